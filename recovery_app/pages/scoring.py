"""Scoring: where the leads sit by score, when they answer, what the factors add, who to call."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.badges import temperature_badge
from recovery_app.components.layout import page
from recovery_app.states.scoring import AXIS_LABELS, CHANNELS, CallRow, FactorRow, HeatRow
from recovery_app.states.scoring import ScoringState as S


def _heat_table_row(row: HeatRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row["band"]),
        rx.foreach(
            row["cells"],
            lambda cell: rx.table.cell(
                rx.cond(
                    cell["count"].to(int) > 0,
                    rx.link(
                        cell["count"].to_string(),
                        href=cell["href"].to(str),
                        aria_label=cell["label"].to(str),
                        class_name="heat-cell",
                    ),
                    rx.text("0", color_scheme="gray"),
                )
            ),
        ),
    )


def lead_heatmap() -> rx.Component:
    axes = rx.segmented_control.root(
        *(
            rx.segmented_control.item(label, value=key)
            for key, label in AXIS_LABELS.items()
            if key != "agent"
        ),
        rx.cond(S.is_manager, rx.segmented_control.item("Agent", value="agent")),
        value=S.axis,
        on_change=S.set_axis,
        id="heat-axis",
    )
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Leads by score", size="4"),
                rx.badge(S.heat_total.to_string(), " open leads", variant="soft"),
                rx.spacer(),
                axes,
                align="center",
                width="100%",
                wrap="wrap",
            ),
            rx.text(
                "Click a cell (or a number below) for those leads. The days-silent view counts "
                "silent leads by how long ago our unanswered last message went out.",
                size="2",
                color_scheme="gray",
            ),
            rx.plotly(data=S.heat, on_click=S.drill, id="heatmap", width="100%"),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Score"),
                            rx.foreach(S.heat_columns, rx.table.column_header_cell),
                        )
                    ),
                    rx.table.body(rx.foreach(S.heat_rows, _heat_table_row)),
                    size="1",
                    id="heat-table",
                ),
                overflow_x="auto",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def response_times() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("When leads answer", size="4"),
                rx.spacer(),
                rx.segmented_control.root(
                    *(
                        rx.segmented_control.item(label, value=key)
                        for key, label in CHANNELS.items()
                    ),
                    value=S.channel,
                    on_change=S.set_channel,
                    id="response-channel",
                ),
                align="center",
                width="100%",
                wrap="wrap",
            ),
            rx.callout(S.window_text, icon="clock", id="best-window"),
            rx.plotly(data=S.response, id="response-heatmap", width="100%"),
            rx.text(
                "Share of our messages of the last 90 days that got a reply, by the lead's local "
                "weekday and hour when it went out (",
                S.response_sends.to_string(),
                " messages).",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _factor_row(row: FactorRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["factor"]),
        rx.table.cell(row["weight"]),
        rx.table.cell(row["leads"]),
        rx.table.cell(rx.text(row["average"], weight="medium")),
    )


def factors() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("What the factors add", size="4"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Factor"),
                        rx.table.column_header_cell("Weight"),
                        rx.table.column_header_cell("Open leads it applies to"),
                        rx.table.column_header_cell("Average points"),
                    )
                ),
                rx.table.body(rx.foreach(S.factors, _factor_row)),
                size="1",
                width="100%",
                id="factor-table",
            ),
            rx.text(S.calibration_text, size="2", color_scheme="gray", id="calibration"),
            rx.cond(
                S.is_manager,
                rx.link("Change the weights", href=routes.LEAD_HANDLING, size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _call_row(row: CallRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.link(row["name"], href=row["href"], weight="medium"),
                rx.text(row["why"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(row["phone"], white_space="nowrap")),
        rx.table.cell(
            rx.hstack(temperature_badge(row["temperature"]), rx.text(row["score"]), spacing="2")
        ),
        rx.table.cell(row["agent"]),
        rx.table.cell(
            rx.cond(
                row["mine"],
                rx.link(rx.button("Call", size="1", variant="soft"), href=row["href"]),
                rx.cond(
                    row["claimable"] | S.is_manager,
                    rx.button(
                        rx.icon("hand", size=14),
                        "Take it",
                        size="1",
                        on_click=S.take(row["id"]),
                        class_name="take-lead",
                    ),
                ),
            )
        ),
        class_name="call-row",
    )


def call_list() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Call these now", size="4"),
            rx.text(
                "The 20 open leads most worth a call: score, how recently they reached out, and "
                "whether a person has called or written yet. Leads we wrote to in the last 4 "
                "hours wait.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                S.calls.length() > 0,
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Lead"),
                                rx.table.column_header_cell("Phone"),
                                rx.table.column_header_cell("Score"),
                                rx.table.column_header_cell("Agent"),
                                rx.table.column_header_cell(
                                    rx.text("Action", class_name="rt-sr-only")
                                ),
                            )
                        ),
                        rx.table.body(rx.foreach(S.calls, _call_row)),
                        size="1",
                        width="100%",
                        id="call-list",
                    ),
                    overflow_x="auto",
                    width="100%",
                ),
                rx.callout("Nobody to call right now.", icon="check", color_scheme="grass"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@page(route=routes.SCORING, title="Scoring", on_load=S.load)
def scoring_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Scoring", size="6"),
        lead_heatmap(),
        rx.grid(
            call_list(),
            response_times(),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        factors(),
        spacing="4",
        width="100%",
    )
