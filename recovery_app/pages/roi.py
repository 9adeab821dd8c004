"""ROI (managers): what recovery earned against what it cost, for a date range and an
attribution model; every table exports to CSV, every chart to PNG (the chart's camera button),
and /roi/report is the same report on one printable page."""

from collections.abc import Callable

import reflex as rx
from reflex.vars.base import Var

from recovery_app import routes
from recovery_app.components.address import AddressSync
from recovery_app.components.figures import figure_card
from recovery_app.components.layout import page, public_page
from recovery_app.states.roi import MODELS_SHOWN, PRESETS, CostRow, Row, SourceCost
from recovery_app.states.roi import RoiState as S
from recovery_app.states.session import SessionState


def _chart(figure: rx.Var, name: str, element_id: str) -> rx.Component:
    # The modebar's camera button saves the chart as a PNG named after it.
    return rx.plotly(
        data=figure,
        id=element_id,
        width="100%",
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"],
        },
    )


def _export(table: str) -> rx.Component:
    return rx.button(
        rx.icon("download", size=14),
        "CSV",
        size="1",
        variant="soft",
        on_click=S.export(table),
        id=f"export-{table}",
        aria_label=f"Download the {table} table as CSV",
        class_name="no-print",
    )


def _table_card(
    title: str, table: str, headers: list[str], rows: rx.Var, row: Callable, empty: str = ""
) -> rx.Component:
    """A titled table with its CSV download; `empty` shows instead when there are no rows."""
    grid = rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(h) for h in headers))),
            rx.table.body(rx.foreach(rows, row)),
            size="1",
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
    )
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(title, size="3"),
                rx.spacer(),
                _export(table),
                width="100%",
                align="center",
            ),
            rx.cond(
                rows.length() > 0,  # type: ignore[attr-defined]
                grid,
                rx.text(empty, size="2", color_scheme="gray"),
            )
            if empty
            else grid,
            spacing="2",
            width="100%",
        ),
        id=f"table-{table}",
        width="100%",
    )


def _revenue_table(title: str, table: str, rows: rx.Var, first: str, costs: bool) -> rx.Component:
    headers = [first, "Deals", "Revenue"] + (["Sent", "Cost", "ROI"] if costs else [])

    def row(r: Row) -> rx.Component:
        cells = [
            rx.table.row_header_cell(r["label"]),
            rx.table.cell(r["deals"]),
            rx.table.cell(r["revenue"]),
        ]
        if costs:
            cells += [rx.table.cell(r["sent"]), rx.table.cell(r["cost"]), rx.table.cell(r["roi"])]
        return rx.table.row(*cells, class_name=f"{table}-row")

    return _table_card(
        title, table, headers, rows, row, empty="No recovered revenue in this range yet."
    )


def _cost_row(row: CostRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row["item"]),
        rx.table.cell(row["detail"]),
        rx.table.cell(row["cost"]),
        class_name="cost-row",
    )


def _costs_table() -> rx.Component:
    return _table_card("Costs", "costs", ["Cost", "Detail", "Amount"], S.costs, _cost_row)


def _range_bar() -> rx.Component:
    presets = rx.select.root(
        rx.select.trigger(placeholder="Custom range", aria_label="Preset range", id="range-preset"),
        rx.select.content(*(rx.select.item(label, value=key) for key, label in PRESETS.items())),
        value=S.preset,
        on_change=S.pick_preset,
        size="2",
    )
    custom = rx.form(
        rx.hstack(
            rx.input(
                type="date",
                name="from",
                default_value=S.start,
                key=S.start,
                aria_label="From",
                id="range-from",
            ),
            rx.text("to", size="2"),
            rx.input(
                type="date",
                name="to",
                default_value=S.end,
                key=S.end,
                aria_label="To",
                id="range-to",
            ),
            rx.button("Apply", type="submit", variant="soft", loading=S.loading, id="range-apply"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        on_submit=S.set_range,
        reset_on_submit=False,
    )
    models = rx.segmented_control.root(
        *(rx.segmented_control.item(label, value=key) for key, label in MODELS_SHOWN.items()),
        value=S.model,
        on_change=S.set_model,
        id="model",
    )
    return rx.flex(
        presets,
        custom,
        models,
        rx.link(
            rx.button(rx.icon("printer", size=14), "Printable report", variant="outline"),
            href=S.report_href,
            is_external=True,
            id="report-link",
        ),
        spacing="3",
        wrap="wrap",
        align="center",
        width="100%",
        class_name="no-print",
    )


def _source_cost(row: SourceCost) -> rx.Component:
    return rx.hstack(
        rx.text(row["label"], size="2", width="10rem"),
        rx.input(
            name="cost:" + row["source"],
            default_value=row["usd"],
            placeholder="0",
            type="number",
            min="0",
            step="0.01",
            width="7rem",
            aria_label="Cost per lead from " + row["label"],
        ),
        align="center",
    )


def _settings() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("How ROI is counted", size="3"),
                rx.text(
                    "Go-live: the day the engine started recovering leads; the recovery rate "
                    "before and after it is compared. Cost per lead: what a lead from each "
                    "source costs you (ads, portal fees); leave blank when free.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.hstack(
                    rx.text("Go-live date", size="2", width="10rem"),
                    rx.input(
                        type="date",
                        name="go_live_on",
                        default_value=S.go_live_on,
                        key=S.go_live_on,
                        id="go-live",
                        aria_label="Go-live date",
                    ),
                    align="center",
                ),
                rx.foreach(S.source_costs, _source_cost),
                rx.button("Save", type="submit", loading=S.settings_saving, id="roi-settings-save"),
                spacing="2",
            ),
            on_submit=S.save_settings,
            reset_on_submit=False,
        ),
        width="100%",
        class_name="no-print",
    )


def _body() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.range_error != "",
            rx.callout(S.range_error, icon="triangle_alert", color_scheme="red", id="range-error"),
        ),
        rx.text(S.period_text, size="2", weight="medium", id="period"),
        rx.text(S.window_text, size="1", color_scheme="gray"),
        rx.grid(
            rx.foreach(S.figures, lambda card: figure_card(card, size="6")),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="3",
            width="100%",
        ),
        rx.grid(
            rx.card(
                rx.heading("Closed revenue and spend per day", size="3"),
                _chart(S.trend, "roi-trend", "trend-chart"),
                width="100%",
            ),
            rx.card(
                rx.heading("Recovered revenue and cost by campaign", size="3"),
                _chart(S.by_campaign, "roi-by-campaign", "campaign-chart"),
                width="100%",
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="3",
            width="100%",
        ),
        rx.grid(
            rx.card(
                rx.heading("Recovery rate before and after go-live", size="3"),
                rx.text(S.cohort_text, size="2", color_scheme="gray", id="cohort-text"),
                _chart(S.cohorts, "roi-before-after", "cohort-chart"),
                width="100%",
            ),
            _costs_table(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="3",
            width="100%",
        ),
        _revenue_table("By campaign", "campaigns", S.campaigns, "Campaign", True),
        rx.grid(
            _revenue_table("By channel", "channels", S.channels, "Channel", True),
            _revenue_table("By source", "sources", S.sources, "Source", False),
            _revenue_table("By agent", "agents", S.agents, "Agent", False),
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="3",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


class RoiAddress(AddressSync):
    address = S.address


@page(route=routes.ROI, title="ROI", on_load=S.load)
def roi_page() -> rx.Component:
    return rx.vstack(
        RoiAddress.create(),
        rx.hstack(rx.heading("ROI", size="6"), rx.cond(S.loading, rx.spinner()), align="center"),
        _range_bar(),
        _body(),
        _settings(),
        spacing="4",
        width="100%",
    )


# Print: A4/Letter portrait, no app frame, the charts at their on-screen size scaled to fit.
PRINT_CSS = """
@media print {
  .no-print, .modebar-container { display: none !important; }
  @page { size: auto; margin: 12mm; }
  body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  #roi-report { zoom: 0.72; }
}
"""


@public_page(route=routes.ROI_REPORT, title="ROI report", on_load=S.load)
def roi_report_page() -> rx.Component:
    """Signed-in only (the on_load checks the session and the manager role); no sidebar, so it
    prints as one page."""
    return rx.cond(
        SessionState.signed_in,
        rx.box(
            rx.el.style(PRINT_CSS),
            rx.vstack(
                rx.hstack(
                    rx.vstack(
                        rx.heading("Lead recovery report", size="6"),
                        rx.text(
                            SessionState.tenant_name, size="3", weight="medium", id="report-office"
                        ),
                        spacing="1",
                    ),
                    rx.spacer(),
                    rx.vstack(
                        rx.text("Generated ", S.generated_at, size="1", color_scheme="gray"),
                        rx.button(
                            rx.icon("printer", size=14),
                            "Print",
                            # A compiled function, not code for eval (which the CSP forbids).
                            on_click=rx.call_function(Var(_js_expr="() => window.print()")),
                            class_name="no-print",
                            id="print",
                        ),
                        align="end",
                    ),
                    width="100%",
                ),
                _body(),
                spacing="3",
                width="100%",
            ),
            id="roi-report",
            padding="1.5rem",
            max_width="1100px",
            margin="0 auto",
        ),
        rx.center(rx.spinner(size="3"), height="100vh"),
    )
