"""The campaign wizard's last stages: timing (start, send window, send-time optimisation,
pace, autopilot or review) and the review before launch (summary, sends per day, compliance
check, estimated cost)."""

import reflex as rx

from recovery_app.components.wizard_fields import card, field_error, field_label
from recovery_app.states.campaign_views import DAY_NAMES, CostRow, DayRow, FindingRow, SummaryRow
from recovery_app.states.campaign_wizard import CampaignWizardState as S

FINDING_COLORS = {"block": "red", "warn": "amber", "note": "gray"}
FINDING_ICONS = {"block": "octagon-x", "warn": "triangle-alert", "note": "info"}


# 4. Timing -------------------------------------------------------------------------------------


def _time_input(field: str, value: rx.Var, label: str) -> rx.Component:
    element_id = field.replace("_", "-")
    return rx.vstack(
        field_label(label, element_id),
        rx.input(
            value=value,
            on_change=lambda v: S.set_timing(field, v),
            type="time",
            id=element_id,
            width="8rem",
        ),
        spacing="1",
    )


def timing_stage() -> rx.Component:
    start = card(
        "Start",
        rx.segmented_control.root(
            rx.segmented_control.item("When launched", value="now"),
            rx.segmented_control.item("On a date", value="later"),
            value=S.start_mode,
            on_change=lambda v: S.set_timing("start_mode", v),
            id="start-mode",
        ),
        rx.cond(
            S.start_mode == "later",
            rx.flex(
                rx.vstack(
                    field_label("Date", "start-date"),
                    rx.input(
                        value=S.start_date,
                        on_change=lambda v: S.set_timing("start_date", v),
                        type="date",
                        id="start-date",
                    ),
                    spacing="1",
                ),
                _time_input("start_time", S.start_time, "Time"),
                rx.text("in the office's time zone (", S.timezone, ")", size="1"),
                spacing="3",
                align="end",
                wrap="wrap",
            ),
        ),
        field_error("starts_at"),
    )
    window = card(
        "Send window",
        rx.text(
            "In each lead's local time. Texts also keep to the law's 08:00-21:00 and the "
            "office's quiet hours whatever the window says.",
            size="2",
            color_scheme="gray",
        ),
        rx.flex(
            *(
                rx.button(
                    name,
                    size="1",
                    radius="full",
                    variant=rx.cond(S.day_flags[i], "solid", "outline"),
                    on_click=S.toggle_day(i),
                    aria_pressed=rx.cond(S.day_flags[i], "true", "false"),
                    id=f"day-{i}",
                    type="button",
                )
                for i, name in enumerate(DAY_NAMES)
            ),
            spacing="2",
            wrap="wrap",
        ),
        field_error("send_window.days"),
        rx.flex(
            _time_input("window_start", S.window_start, "From"),
            _time_input("window_end", S.window_end, "Until"),
            spacing="3",
            wrap="wrap",
        ),
        field_error("send_window.start"),
        field_error("send_window.end"),
        rx.hstack(
            rx.switch(
                checked=S.optimize,
                on_change=lambda v: S.set_flag("optimize", v),
                id="window-optimize",
                aria_label="Use the suggested send window",
            ),
            rx.text("Use the suggested send window (send-time optimisation)", size="2"),
            align="center",
            spacing="2",
        ),
        rx.text(
            rx.cond(
                S.suggestion != "",
                "Suggested from this office's replies - " + S.suggestion + ". ",
                "Not enough reply history yet to suggest a window; the one above is used "
                "until there is. ",
            ),
            "Each step then goes out in its channel's suggested window.",
            size="1",
            color_scheme="gray",
            id="window-suggestion",
        ),
    )
    limits = card(
        "Pace and approval",
        rx.flex(
            rx.vstack(
                field_label("Marketing messages a day per lead, at most", "frequency-cap"),
                rx.input(
                    value=S.frequency_cap,
                    on_change=lambda v: S.set_timing("frequency_cap", v),
                    type="number",
                    min=1,
                    max=20,
                    width="6rem",
                    id="frequency-cap",
                ),
                field_error("frequency_cap_per_day"),
                spacing="1",
            ),
            spacing="4",
            wrap="wrap",
        ),
        rx.radio_group.root(
            rx.vstack(
                rx.hstack(
                    rx.radio_group.item(
                        value="autopilot", id="mode-autopilot", aria_label="Autopilot"
                    ),
                    rx.text("Autopilot: every step goes out on its own", size="2"),
                    spacing="2",
                    align="center",
                ),
                rx.hstack(
                    rx.radio_group.item(value="review", id="mode-review", aria_label="Review"),
                    rx.text("Review: AI-written messages wait in Approvals for a person", size="2"),
                    spacing="2",
                    align="center",
                ),
                spacing="2",
            ),
            value=S.mode,
            on_change=lambda v: S.set_timing("mode", v),
            name="mode",
        ),
        rx.hstack(
            rx.switch(
                checked=S.always_on,
                on_change=lambda v: S.set_flag("always_on", v),
                id="always-on",
                aria_label="Keep enrolling new matches",
            ),
            rx.text("Keep enrolling leads that come to match after launch", size="2"),
            align="center",
            spacing="2",
        ),
    )
    return rx.vstack(start, window, limits, spacing="4", width="100%")


# 5. Review -------------------------------------------------------------------------------------


def _summary_row(row: SummaryRow) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(row["label"]),
        rx.data_list.value(rx.text(row["value"], size="2")),
    )


def _finding(row: FindingRow) -> rx.Component:
    return rx.callout(
        row["text"],
        icon=rx.match(row["level"], *FINDING_ICONS.items(), "info"),
        color_scheme=rx.match(row["level"], *FINDING_COLORS.items(), "gray"),
        size="1",
        class_name="finding",
        width="100%",
    )


def _day(row: DayRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(row["day"], size="2", white_space="nowrap")),
        rx.table.cell(row["sms"].to_string()),
        rx.table.cell(row["email"].to_string()),
        rx.table.cell(
            rx.hstack(
                rx.box(
                    width=row["width"],
                    height="0.6rem",
                    background=rx.color("accent", 9),
                    border_radius="var(--radius-2)",
                    min_width="2px",
                ),
                rx.text(row["total"].to_string(), size="1"),
                align="center",
                spacing="2",
                width="100%",
            ),
            width="40%",
        ),
        class_name="plan-row",
    )


def _cost(row: CostRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row["label"]),
        rx.table.cell(rx.text(row["detail"], size="1", color_scheme="gray")),
        rx.table.cell(rx.text(row["amount"], white_space="nowrap"), text_align="right"),
    )


def review_stage() -> rx.Component:
    return rx.grid(
        rx.vstack(
            card(
                "Summary",
                rx.data_list.root(
                    rx.foreach(S.summary, _summary_row),
                    orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
                    id="review-summary",
                ),
            ),
            card(
                "Projected sends per day",
                rx.text(
                    "If every enrolled lead went through every step (replies stop many "
                    "sooner), by day in the office's time zone.",
                    size="1",
                    color_scheme="gray",
                ),
                rx.cond(
                    S.plan.length() > 0,
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Day"),
                                rx.table.column_header_cell("Texts"),
                                rx.table.column_header_cell("Emails"),
                                rx.table.column_header_cell("Total"),
                            )
                        ),
                        rx.table.body(rx.foreach(S.plan, _day)),
                        size="1",
                        width="100%",
                        id="review-plan",
                    ),
                    rx.text("Nothing would be sent now.", size="2", id="review-plan"),
                ),
            ),
            spacing="4",
            width="100%",
        ),
        rx.vstack(
            card(
                "Compliance check",
                rx.vstack(rx.foreach(S.findings, _finding), spacing="2", width="100%"),
                id="review-findings",
            ),
            card(
                "Estimated cost",
                rx.table.root(
                    rx.table.body(
                        rx.foreach(S.costs, _cost),
                        rx.table.row(
                            rx.table.row_header_cell(rx.text("Total", weight="bold")),
                            rx.table.cell(),
                            rx.table.cell(
                                rx.text(S.cost_total, weight="bold", id="cost-total"),
                                text_align="right",
                            ),
                        ),
                    ),
                    size="1",
                    width="100%",
                ),
                rx.text(
                    "At the office's prices (Settings -> Office), for the sends above.",
                    size="1",
                    color_scheme="gray",
                ),
                id="review-cost",
            ),
            spacing="4",
            width="100%",
        ),
        columns=rx.breakpoints(initial="1", lg="3fr 2fr"),
        spacing="4",
        width="100%",
        align_items="start",
    )
