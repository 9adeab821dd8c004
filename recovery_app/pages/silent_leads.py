"""Silent leads: who went quiet, why, what is planned next, and the recovery actions, one lead
or many at a time."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.badges import temperature_badge
from recovery_app.components.layout import page
from recovery_app.components.tables import pager as table_pager
from recovery_app.components.tables import search_box, sortable_header
from recovery_app.models import Channel, Temperature
from recovery_app.states.silent_leads import (
    ALL,
    LOST_REASONS,
    MIN_SCORES,
    NONE,
    SILENT_FOR,
    SNOOZE_DAYS,
    SilentRow,
)
from recovery_app.states.silent_leads import (
    SilentLeadsState as S,
)


def _select(
    name: str, label: str, value: rx.Var, items: list[rx.Component], width: str = "9rem"
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=label, id=f"filter-{name}", min_width=width),
        rx.select.content(rx.select.item(label, value=ALL), *items),
        value=value,
        on_change=lambda v: S.set_filter(name, v),
    )


def _choices(var: rx.Var) -> rx.Component:
    return rx.foreach(var, lambda c: rx.select.item(c["label"], value=c["value"]))


def filters() -> rx.Component:
    return rx.flex(
        search_box(S.search, S.set_search, "silent-search", width="16rem"),
        _select(
            "silent_for",
            "Silent any time",
            S.silent_for,
            [
                rx.select.item(f"Silent {key.removesuffix('d')}+ days", value=key)
                for key in SILENT_FOR
            ],
        ),
        _select(
            "temperature",
            "All temperatures",
            S.temperature,
            [rx.select.item(t.value.capitalize(), value=t.value) for t in Temperature],
        ),
        _select(
            "min_score",
            "Any score",
            S.min_score,
            [rx.select.item(f"Score {n}+", value=n) for n in MIN_SCORES],
            "7rem",
        ),
        _select("source", "All sources", S.source, [_choices(S.source_choices)]),
        rx.cond(
            S.is_manager,
            _select(
                "agent",
                "All agents",
                S.agent,
                [rx.select.item("Unassigned", value=NONE), _choices(S.agent_choices)],
            ),
        ),
        _select(
            "campaign",
            "Any campaign",
            S.campaign,
            [rx.select.item("In no campaign", value=NONE), _choices(S.campaign_choices)],
            "10rem",
        ),
        _select(
            "channel",
            "Any last channel",
            S.channel,
            [
                rx.select.item(c.value.upper() if c == Channel.SMS else "Email", value=c.value)
                for c in Channel
            ],
        ),
        rx.cond(
            S.has_filters,
            rx.button(rx.icon("x", size=14), "Clear", variant="ghost", on_click=S.clear_filters),
        ),
        spacing="3",
        wrap="wrap",
        align="center",
    )


def _action_buttons() -> rx.Component:
    def button(action: str, label: str, icon: str) -> rx.Component:
        return rx.button(
            rx.icon(icon, size=14),
            label,
            size="2",
            variant="soft",
            on_click=S.open_bulk_action(action),
            id=f"bulk-{action}",
        )

    return rx.hstack(
        button("enroll", "Enroll", "megaphone"),
        button("snooze", "Snooze", "alarm-clock-off"),
        rx.cond(S.is_manager, button("assign", "Assign", "user-plus")),
        button("lost", "Mark lost", "circle-x"),
        spacing="2",
        wrap="wrap",
    )


def bulk_bar() -> rx.Component:
    """Shown while rows are ticked: how many, "all N matching", and the bulk actions."""
    more = S.page_selected & (S.total > S.rows.length())
    return rx.cond(
        (S.selected.length() > 0) | S.all_matching,
        rx.flex(
            rx.cond(
                S.all_matching,
                rx.text(
                    "All ",
                    S.total.to_string(),
                    " matching leads are selected.",
                    weight="medium",
                    id="bulk-count",
                ),
                rx.text(
                    S.selected.length().to_string(), " selected", weight="medium", id="bulk-count"
                ),
            ),
            rx.cond(
                more & ~S.all_matching,
                rx.button(
                    "Select all ",
                    S.total.to_string(),
                    " matching",
                    variant="ghost",
                    size="2",
                    on_click=S.choose_all_matching(True),
                    id="select-all-matching",
                ),
            ),
            rx.button("Clear", variant="ghost", size="2", on_click=S.clear_selection),
            rx.spacer(),
            _action_buttons(),
            align="center",
            spacing="3",
            wrap="wrap",
            padding="0.75rem",
            border_radius="var(--radius-3)",
            background=rx.color("accent", 3),
            width="100%",
            id="bulk-bar",
        ),
    )


def _sortable(label: str, key: str) -> rx.Component:
    return sortable_header(label, key, S.sort, S.descending, S.sort_by(key), id=f"sort-{key}")


def _row_menu(lead: SilentRow) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.icon("ellipsis", size=16),
                variant="ghost",
                aria_label="Recovery actions",
                class_name="row-actions",
            )
        ),
        rx.menu.content(
            rx.menu.item(
                rx.icon("send", size=14),
                "Send next best message now",
                on_click=S.send_now(lead["id"]),
                disabled=lead["opted_out"],
                class_name="row-send-now",
            ),
            rx.menu.item(
                rx.icon("megaphone", size=14),
                "Enroll in a campaign...",
                on_click=S.open_row_action("enroll", lead["id"]),
            ),
            rx.menu.item(
                rx.icon("alarm-clock-off", size=14),
                "Snooze...",
                on_click=S.open_row_action("snooze", lead["id"]),
            ),
            rx.cond(
                S.is_manager,
                rx.menu.item(
                    rx.icon("user-plus", size=14),
                    "Assign...",
                    on_click=S.open_row_action("assign", lead["id"]),
                ),
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("circle-x", size=14),
                "Mark lost...",
                color="red",
                on_click=S.open_row_action("lost", lead["id"]),
            ),
        ),
    )


def _two_lines(main: rx.Var | str, detail: rx.Var | str, **props) -> rx.Component:
    return rx.vstack(
        rx.text(main, size="2", **props),
        rx.text(detail, size="1", color_scheme="gray"),
        spacing="0",
    )


def _row(lead: SilentRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.checkbox(
                checked=S.selected.contains(lead["id"]),
                on_change=lambda _: S.toggle_row(lead["id"]),
                aria_label="Select " + lead["name"],
                class_name="row-select",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.link(lead["name"], href=lead["href"], weight="medium", class_name="lead-name"),
                rx.text(lead["contact"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.hstack(
                temperature_badge(lead["temperature"]),
                rx.text(lead["score"], weight="bold"),
                align="center",
                spacing="2",
            )
        ),
        rx.table.cell(_two_lines(lead["agent"], lead["source"])),
        rx.table.cell(
            _two_lines(
                lead["silent_for"],
                rx.cond(lead["last_channel"] != "", "last: " + lead["last_channel"], ""),
                weight="medium",
            ),
            white_space="nowrap",
        ),
        rx.table.cell(rx.text(lead["why"], size="1"), min_width="10rem"),
        rx.table.cell(
            rx.vstack(
                rx.text(
                    lead["next"],
                    size="2",
                    color=rx.cond(lead["planned"], rx.color("gray", 12), rx.color("amber", 11)),
                    class_name="next-planned",
                ),
                rx.text(lead["next_note"], size="1", color_scheme="gray"),
                spacing="0",
            ),
            min_width="14rem",
        ),
        rx.table.cell(_row_menu(lead)),
        class_name="silent-row",
    )


def table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(
                        rx.checkbox(
                            checked=S.page_selected,
                            on_change=lambda _: S.toggle_page(),
                            aria_label="Select every lead on this page",
                            id="select-page",
                        )
                    ),
                    _sortable("Lead", "name"),
                    _sortable("Score", "score"),
                    rx.table.column_header_cell("Agent / source"),
                    _sortable("Silent for", "silent_for"),
                    rx.table.column_header_cell("Why silent"),
                    rx.table.column_header_cell("Planned next"),
                    rx.table.column_header_cell(rx.text("Actions", class_name="rt-sr-only")),
                )
            ),
            rx.table.body(rx.foreach(S.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
            id="silent-table",
        ),
        # A wide table scrolls inside its box; the page (and its filters) keep the screen width.
        width="100%",
        max_width="100%",
        overflow_x="auto",
    )


def empty_state() -> rx.Component:
    return rx.callout(
        rx.cond(
            S.has_filters,
            "No silent leads match these filters. Clear a filter to see more.",
            "No silent leads right now. Leads show up here when they do not answer within "
            "your office's silence threshold (Settings).",
        ),
        icon="party-popper",
        color_scheme="grass",
        id="silent-empty",
    )


def pager() -> rx.Component:
    return table_pager(
        S.range_label,
        "silent-range",
        S.page,
        S.page_count,
        previous=S.previous_page,
        next_=S.next_page,
    )


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%")


def _picker(name: str, placeholder: str, items: list[rx.Component]) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=placeholder, id=f"action-{name}", width="100%"),
        rx.select.content(*items),
        name=name,
    )


def action_dialog() -> rx.Component:
    """Confirm an action with what it applies to; progress while a large one runs."""
    fields = rx.match(
        S.action,
        (
            "enroll",
            rx.cond(
                S.enroll_choices.length() > 0,
                _field(
                    "Campaign",
                    _picker("campaign", "Choose a campaign", [_choices(S.enroll_choices)]),
                ),
                rx.callout(
                    "No campaign is active. Launch one on the Campaigns page first.",
                    icon="info",
                    color_scheme="gray",
                ),
            ),
        ),
        (
            "snooze",
            _field(
                "Snooze for",
                _picker(
                    "days",
                    "How long",
                    [
                        rx.select.item(f"{d} day{'s' if d != '1' else ''}", value=d)
                        for d in SNOOZE_DAYS
                    ],
                ),
            ),
        ),
        (
            "assign",
            _field("Assign to", _picker("agent", "Choose a person", [_choices(S.agent_choices)])),
        ),
        _field(
            "Reason",
            _picker("reason", "Why", [rx.select.item(r, value=r) for r in LOST_REASONS]),
        ),
    )
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(S.action_title),
            rx.dialog.description(
                "Applies to ", rx.text.strong(S.action_label), ".", id="action-scope"
            ),
            rx.form(
                rx.vstack(
                    fields,
                    rx.cond(
                        S.running,
                        rx.vstack(
                            rx.progress(value=S.progress, width="100%"),
                            rx.text(
                                S.done.to_string(),
                                " of ",
                                S.action_count.to_string(),
                                " done...",
                                size="2",
                                color_scheme="gray",
                                id="action-progress",
                            ),
                            width="100%",
                        ),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(
                                "Cancel",
                                variant="soft",
                                color_scheme="gray",
                                type="button",
                                disabled=S.running,
                                on_click=S.close_action,
                            )
                        ),
                        rx.button(
                            S.action_title,
                            type="submit",
                            loading=S.running,
                            color_scheme=rx.cond(S.action == "lost", "red", "accent"),
                            id="action-confirm",
                        ),
                        justify="end",
                        spacing="3",
                        width="100%",
                    ),
                    spacing="4",
                    padding_top="0.5rem",
                ),
                on_submit=S.run_action,
                reset_on_submit=False,
            ),
            max_width="28rem",
        ),
        open=S.action != "",
        on_open_change=S.dialog_open_changed,
    )


@page(route=routes.SILENT, title="Silent leads", on_load=S.load)
def silent_leads_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Silent leads", size="6"),
            rx.badge(S.total.to_string(), color_scheme="amber", size="2", id="silent-total"),
            rx.cond(S.loading, rx.spinner(size="2")),
            align="center",
            spacing="3",
            width="100%",
        ),
        rx.text(
            "Leads we wrote to that have not answered. Send a recovery message, enroll them in a "
            "campaign, snooze them or let them go.",
            size="2",
            color_scheme="gray",
        ),
        filters(),
        bulk_bar(),
        rx.cond(S.total > 0, rx.fragment(table(), pager()), empty_state()),
        action_dialog(),
        spacing="4",
        width="100%",
    )
