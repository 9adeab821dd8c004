"""A headline figure: what it is, its value, and a line that says how it was counted."""

from typing import TypedDict

import reflex as rx


class FigureCard(TypedDict):
    label: str
    value: str
    hint: str
    id: str


def figure_card(card: FigureCard, size: str = "7") -> rx.Component:
    """Call it from a lambda in rx.foreach: foreach would pass its index as `size`."""
    return rx.card(
        rx.vstack(
            rx.text(card["label"], size="2", color_scheme="gray"),
            rx.heading(card["value"], size=size, class_name="figure-value"),  # type: ignore[arg-type]
            rx.text(card["hint"], size="1", color_scheme="gray"),
            spacing="1",
        ),
        id=card["id"],
        class_name="figure-card",
    )
