"""Inbox: every conversation, the ones waiting for our answer first."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.states.inbox import ALL, REFRESH_MS, InboxState, ThreadRow


def _thread(row: ThreadRow) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.cond(row["waiting"], rx.badge("waiting", color_scheme="red"), rx.fragment()),
            rx.vstack(
                rx.hstack(
                    rx.text(row["name"], weight="medium"),
                    rx.text(row["agent"], size="1", color_scheme="gray"),
                    align="center",
                ),
                rx.text(
                    row["direction"],
                    " (",
                    row["channel"],
                    "): ",
                    row["preview"],
                    size="2",
                    color_scheme="gray",
                    trim="end",
                ),
                spacing="0",
                width="100%",
            ),
            rx.spacer(),
            rx.text(row["when"], size="1", color_scheme="gray", white_space="nowrap"),
            width="100%",
            align="center",
            padding="0.5rem",
        ),
        href=row["href"],
        underline="none",
        color="inherit",
        width="100%",
        class_name="thread-row",
    )


@page(route=routes.INBOX, title="Inbox", on_load=InboxState.load)
def inbox_page() -> rx.Component:
    return rx.vstack(
        rx.moment(interval=REFRESH_MS, on_change=InboxState.refresh, display="none"),
        rx.hstack(
            rx.heading("Inbox", size="6"),
            rx.badge(InboxState.total, " conversations", variant="soft", id="thread-total"),
            rx.spacer(),
            rx.hstack(
                rx.switch(
                    checked=InboxState.only_waiting,
                    on_change=InboxState.set_only_waiting,
                    id="only-waiting",
                    aria_label="Only waiting for us",
                ),
                rx.text("Only waiting for us", size="2"),
                align="center",
            ),
            rx.cond(
                InboxState.is_manager,
                rx.select.root(
                    rx.select.trigger(id="thread-agent"),
                    rx.select.content(
                        rx.select.item("Everyone", value=ALL),
                        rx.select.item("Unassigned", value="unassigned"),
                        rx.foreach(
                            InboxState.agent_choices,
                            lambda c: rx.select.item(c["label"], value=c["value"]),
                        ),
                    ),
                    value=InboxState.agent_filter,
                    on_change=InboxState.set_agent_filter,
                ),
            ),
            width="100%",
            align="center",
            spacing="3",
        ),
        rx.cond(
            InboxState.rows.length() == 0,
            rx.callout("No conversations yet.", icon="inbox"),
            rx.card(rx.vstack(rx.foreach(InboxState.rows, _thread), spacing="1"), width="100%"),
        ),
        rx.hstack(
            rx.button(
                "Previous",
                variant="soft",
                disabled=InboxState.page == 0,
                on_click=InboxState.go_to_page(InboxState.page - 1),
            ),
            rx.button(
                "Next",
                variant="soft",
                disabled=(InboxState.page + 1) * 50 >= InboxState.total,
                on_click=InboxState.go_to_page(InboxState.page + 1),
                id="thread-next",
            ),
            spacing="2",
        ),
        spacing="4",
        width="100%",
    )
