"""Leads: every lead of the tenant, 25 at a time, filtered and sorted on the server."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.backend import backend_url
from recovery_app.components.badges import status_badge, temperature_badge
from recovery_app.components.layout import page
from recovery_app.components.tables import pager as table_pager
from recovery_app.components.tables import search_box, sortable_header
from recovery_app.domain.leads.csv_io import MAX_BYTES
from recovery_app.models import LeadStatus, Temperature
from recovery_app.states.leads import ALL, UNASSIGNED, ImportRow, LeadRow, LeadsState

UPLOAD_ID = "lead-csv"


def _filter_select(
    placeholder: str, value: rx.Var, on_change, items: list[rx.Component], element_id: str
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=placeholder, id=element_id, min_width="9rem"),
        rx.select.content(rx.select.item(f"All {placeholder.lower()}", value=ALL), *items),
        value=value,
        on_change=on_change,
    )


def filters() -> rx.Component:
    return rx.flex(
        search_box(LeadsState.search, LeadsState.set_search, "lead-search"),
        _filter_select(
            "Statuses",
            LeadsState.status,
            LeadsState.set_status,
            [rx.select.item(s.value.capitalize(), value=s.value) for s in LeadStatus],
            "filter-status",
        ),
        _filter_select(
            "Temperatures",
            LeadsState.temperature,
            LeadsState.set_temperature,
            [rx.select.item(t.value.capitalize(), value=t.value) for t in Temperature],
            "filter-temperature",
        ),
        _filter_select(
            "Sources",
            LeadsState.source,
            LeadsState.set_source,
            [
                rx.foreach(
                    LeadsState.source_choices,
                    lambda c: rx.select.item(c["label"], value=c["value"]),
                )
            ],
            "filter-source",
        ),
        # Agents see only their own leads (and the pool), so an agent filter means nothing to them.
        rx.cond(
            LeadsState.is_manager,
            _filter_select(
                "Agents",
                LeadsState.agent,
                LeadsState.set_agent,
                [
                    rx.select.item("Unassigned", value=UNASSIGNED),
                    rx.foreach(
                        LeadsState.agent_choices,
                        lambda c: rx.select.item(c["label"], value=c["value"]),
                    ),
                ],
                "filter-agent",
            ),
        ),
        rx.cond(
            LeadsState.range_label_filters != "",
            rx.badge(LeadsState.range_label_filters, size="2", id="range-filter"),
        ),
        rx.cond(
            LeadsState.has_filters,
            rx.button(
                rx.icon("x", size=14), "Clear", variant="ghost", on_click=LeadsState.clear_filters
            ),
        ),
        spacing="3",
        wrap="wrap",
        align="center",
    )


def _sortable(label: str, key: str) -> rx.Component:
    return sortable_header(
        label, key, LeadsState.sort, LeadsState.descending, LeadsState.sort_by(key)
    )


def _row(lead: LeadRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.link(lead["name"], href=lead["href"], weight="medium", class_name="lead-name"),
                rx.text(lead["email"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(lead["phone"]),
        rx.table.cell(lead["source"]),
        rx.table.cell(status_badge(lead["status"])),
        rx.table.cell(temperature_badge(lead["temperature"])),
        rx.table.cell(rx.text(lead["score"], weight="bold")),
        rx.table.cell(
            rx.cond(
                lead["claimable"] & ~LeadsState.is_manager,
                rx.button(
                    rx.icon("hand", size=14),
                    "Claim",
                    size="1",
                    variant="soft",
                    on_click=LeadsState.claim(lead["id"]),
                    class_name="claim-lead",
                ),
                rx.text(lead["agent"]),
            )
        ),
        rx.table.cell(lead["last_activity"]),
        rx.table.cell(lead["created"]),
        class_name="lead-row",
    )


def table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                _sortable("Lead", "name"),
                rx.table.column_header_cell("Phone"),
                rx.table.column_header_cell("Source"),
                _sortable("Status", "status"),
                rx.table.column_header_cell("Temp."),
                _sortable("Score", "score"),
                rx.table.column_header_cell("Agent"),
                _sortable("Last activity", "last_activity"),
                _sortable("Created", "created"),
            )
        ),
        rx.table.body(rx.foreach(LeadsState.rows, _row)),
        variant="surface",
        size="1",
        width="100%",
        id="lead-table",
    )


def pager() -> rx.Component:
    return table_pager(
        LeadsState.range_label,
        "lead-range",
        LeadsState.page,
        LeadsState.page_count,
        previous=LeadsState.previous_page,
        next_=LeadsState.next_page,
        first=LeadsState.go_to_page(1),
        last=LeadsState.go_to_page(LeadsState.page_count),
    )


def _import_row(row: ImportRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["row"]),
        rx.table.cell(
            rx.badge(
                row["outcome"],
                color_scheme=rx.cond(row["outcome"] == "rejected", "red", "blue"),
            )
        ),
        rx.table.cell(
            rx.cond(
                row["lead_id"] != "",
                rx.link(row["lead_id"], href=routes.LEADS + "/" + row["lead_id"]),
            )
        ),
        rx.table.cell(row["reason"]),
    )


def _count(label: str, key: str, scheme: str) -> rx.Component:
    return rx.badge(
        label, ": ", LeadsState.import_counts.get(key, 0).to_string(), color_scheme=scheme, size="2"
    )


def import_dialog() -> rx.Component:
    """The per-row outcome of an import: counts, the rows that need a look, the full report."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Import leads"),
            rx.cond(
                LeadsState.importing,
                rx.hstack(
                    rx.spinner(size="2"),
                    rx.text("Imported ", LeadsState.import_done.to_string(), " rows so far..."),
                    align="center",
                ),
            ),
            rx.cond(
                LeadsState.import_error != "",
                rx.callout(LeadsState.import_error, icon="triangle-alert", color_scheme="red"),
            ),
            rx.cond(
                LeadsState.import_counts.length() > 0,
                rx.vstack(
                    rx.hstack(
                        _count("Created", "created", "green"),
                        _count("Merged", "merged", "blue"),
                        _count("Rejected", "rejected", "red"),
                        spacing="2",
                        id="import-counts",
                    ),
                    rx.cond(
                        LeadsState.import_rows.length() > 0,
                        rx.scroll_area(
                            rx.table.root(
                                rx.table.header(
                                    rx.table.row(
                                        rx.table.column_header_cell("Row"),
                                        rx.table.column_header_cell("Outcome"),
                                        rx.table.column_header_cell("Lead"),
                                        rx.table.column_header_cell("Why"),
                                    )
                                ),
                                rx.table.body(rx.foreach(LeadsState.import_rows, _import_row)),
                                size="1",
                            ),
                            max_height="20rem",
                        ),
                    ),
                    spacing="3",
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.button(
                    rx.icon("download", size=14),
                    "Full report (CSV)",
                    variant="soft",
                    on_click=LeadsState.download_import_report,
                    disabled=LeadsState.importing | (LeadsState.import_counts.length() == 0),
                ),
                rx.button(
                    "Close",
                    on_click=LeadsState.close_import,
                    disabled=LeadsState.importing,
                    id="close-import",
                ),
                justify="end",
                spacing="3",
                padding_top="1rem",
            ),
            max_width="44rem",
        ),
        open=LeadsState.import_open,
    )


def manager_tools() -> rx.Component:
    """Import a CSV (same checks as the webhook) and export the current view."""
    return rx.cond(
        LeadsState.is_manager,
        rx.hstack(
            rx.upload.root(
                rx.button(
                    rx.icon("upload", size=14),
                    "Import CSV",
                    variant="soft",
                    loading=LeadsState.importing,
                    id="import-csv",
                ),
                id=UPLOAD_ID,
                accept={"text/csv": [".csv"], "text/plain": [".csv", ".txt"]},
                max_files=1,
                max_size=MAX_BYTES,
                no_drag=True,
                on_drop=LeadsState.import_leads(rx.upload_files(upload_id=UPLOAD_ID)),
            ),
            # A plain link to the backend: the browser downloads the file with its session
            # cookie, so a large export never passes through the websocket.
            rx.el.a(
                rx.button(rx.icon("download", size=14), "Export CSV", variant="soft"),
                href=backend_url("/exports/leads.csv") + "?" + LeadsState.export_query,
                download="",
                id="export-csv",
            ),
            spacing="2",
        ),
    )


@page(route=routes.LEADS, title="Leads", on_load=LeadsState.load)
def leads_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Leads", size="6"),
            rx.cond(LeadsState.loading, rx.spinner(size="2")),
            rx.spacer(),
            manager_tools(),
            align="center",
            spacing="3",
            width="100%",
        ),
        import_dialog(),
        filters(),
        table(),
        pager(),
        spacing="4",
        width="100%",
    )
