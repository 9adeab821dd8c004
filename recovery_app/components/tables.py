"""Pieces the server-paged tables share: the search box, sortable column headers and the pager."""

import reflex as rx


def search_box(value: rx.Var, on_change, element_id: str, width: str = "18rem") -> rx.Component:
    """Search by name, email or phone; asks the server 300 ms after the typing stops."""
    return rx.debounce_input(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            placeholder="Search name, email or phone",
            value=value,
            on_change=on_change,
            width=width,
            id=element_id,
        ),
        debounce_timeout=300,
    )


def sortable_header(
    label: str, key: str, sort: rx.Var, descending: rx.Var, on_click, **props
) -> rx.Component:
    """A column header that sorts by `key` (and flips the direction when it already does)."""
    icon = rx.cond(
        sort == key,
        rx.cond(descending, rx.icon("arrow-down", size=14), rx.icon("arrow-up", size=14)),
        rx.icon("arrow-up-down", size=14, opacity="0.35"),
    )
    return rx.table.column_header_cell(
        rx.hstack(label, icon, align="center", spacing="1", cursor="pointer"),
        on_click=on_click,
        **props,
    )


def pager(
    range_label: rx.Var,
    range_id: str,
    page: rx.Var,
    page_count: rx.Var,
    *,
    previous,
    next_,
    first=None,
    last=None,
) -> rx.Component:
    """ "1-25 of 4,210" and the page buttons (first and last only when handlers are given)."""
    buttons: list[rx.Component] = []
    if first is not None:
        buttons.append(
            rx.icon_button(
                rx.icon("chevrons-left", size=16),
                variant="soft",
                on_click=first,
                disabled=page <= 1,
                aria_label="First page",
            )
        )
    buttons += [
        rx.button(
            rx.icon("chevron-left", size=16),
            "Previous",
            variant="soft",
            on_click=previous,
            disabled=page <= 1,
            id="page-previous",
        ),
        rx.text(
            "Page ", page.to_string(), " of ", page_count.to_string(), size="2", id="page-label"
        ),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=16),
            variant="soft",
            on_click=next_,
            disabled=page >= page_count,
            id="page-next",
        ),
    ]
    if last is not None:
        buttons.append(
            rx.icon_button(
                rx.icon("chevrons-right", size=16),
                variant="soft",
                on_click=last,
                disabled=page >= page_count,
                aria_label="Last page",
            )
        )
    return rx.hstack(
        rx.text(range_label, size="2", color_scheme="gray", id=range_id),
        rx.spacer(),
        *buttons,
        align="center",
        width="100%",
        spacing="2",
    )
