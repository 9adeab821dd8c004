"""Admins: inbound texts no office could be found for, each given to an office from here."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.states.unmatched import UnmatchedRow, UnmatchedState


def _text(row: UnmatchedRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(row["from_phone"], weight="medium", size="2"),
                rx.text("to ", row["to_number"], size="1", color_scheme="gray"),
                rx.spacer(),
                rx.text(row["when"], size="1", color_scheme="gray"),
                width="100%",
                align="baseline",
            ),
            # The sender's words, as text (never HTML).
            rx.text(row["body"], size="2", white_space="pre-wrap"),
            rx.cond(
                row["keyword"] != "",
                rx.badge(row["keyword"], color_scheme="amber", variant="soft"),
            ),
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(placeholder="Office", aria_label="Office"),
                    rx.select.content(
                        rx.foreach(
                            UnmatchedState.office_choices,
                            lambda c: rx.select.item(c["label"], value=c["value"]),
                        )
                    ),
                    on_change=lambda value: UnmatchedState.pick(row["id"], value),
                ),
                rx.button("Assign", on_click=UnmatchedState.assign(row["id"]), class_name="assign"),
                spacing="2",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="unmatched-text",
    )


@page(route=routes.UNMATCHED, title="Texts no office fits", on_load=UnmatchedState.load)
def unmatched_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Texts no office fits", size="6"),
        rx.text(
            "Texts to a number several offices share, from a phone none of them has texted or "
            "has as a lead. Give each to the office it is for: it becomes that office's lead's "
            "text and counts as a reply there. STOP and START were applied to the number when "
            "they arrived.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            UnmatchedState.texts.length() == 0,
            rx.callout("Nothing to assign.", icon="check", id="unmatched-empty"),
            rx.vstack(rx.foreach(UnmatchedState.texts, _text), spacing="2", width="100%"),
        ),
        spacing="3",
        max_width="48rem",
    )
