"""A red callout listing what is wrong with a form, one line per problem."""

import reflex as rx
from reflex.vars.base import Var


def problems_callout(problems: Var[list[str]], *, id: str) -> rx.Component:
    # `rx.callout(text)` wraps its children in one <p>; a list of lines inside it nested <p>s
    # (invalid HTML, which React reports as a hydration error). Each line is its own text.
    return rx.callout.root(
        rx.callout.icon(rx.icon("triangle-alert")),
        rx.vstack(rx.foreach(problems, lambda line: rx.callout.text(line)), spacing="1"),
        color_scheme="red",
        id=id,
    )
