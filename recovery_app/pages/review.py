"""Approvals: AI drafts waiting for a person, with the lead beside each one. Keyboard: j / k
next and previous, a approve, r reject (not while typing in the editor)."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.components.shortcuts import KeyboardShortcuts
from recovery_app.states.review import ALL, ContextMessage, DraftRow, ReviewState


class ApprovalKeys(KeyboardShortcuts):
    keys = {"j": "next-draft", "k": "prev-draft", "a": "approve-draft", "r": "reject-draft"}


def _row(row: DraftRow) -> rx.Component:
    chosen = ReviewState.selected == row["id"]
    return rx.box(
        rx.hstack(
            rx.text(row["lead"], weight="medium", size="2"),
            rx.badge(row["channel"], size="1"),
            rx.spacer(),
            rx.text(row["waiting"], size="1", color_scheme="gray"),
            width="100%",
        ),
        rx.text(row["campaign"], size="1", color_scheme="gray"),
        rx.text(row["preview"], size="1", trim="end"),
        on_click=ReviewState.open_draft(row["id"]),
        padding="0.5rem",
        border_radius="var(--radius-2)",
        background=rx.cond(chosen, rx.color("accent", 3), "transparent"),
        cursor="pointer",
        width="100%",
        class_name="draft-row",
    )


def _message(message: ContextMessage) -> rx.Component:
    return rx.box(
        rx.text(
            message["direction"],
            " (",
            message["channel"],
            ") ",
            message["when"],
            size="1",
            color_scheme="gray",
        ),
        rx.text(message["body"], size="2"),
        width="100%",
    )


def _editor() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.link(
                    ReviewState.lead_name,
                    href=ReviewState.lead_href,
                    weight="bold",
                    id="draft-lead",
                ),
                rx.badge(ReviewState.drafted_by, color_scheme="violet"),
                rx.spacer(),
                rx.button(
                    "Previous (k)",
                    variant="soft",
                    size="1",
                    on_click=ReviewState.step(-1),
                    id="prev-draft",
                ),
                rx.button(
                    "Next (j)",
                    variant="soft",
                    size="1",
                    on_click=ReviewState.step(1),
                    id="next-draft",
                ),
                width="100%",
                align="center",
            ),
            rx.text(ReviewState.lead_facts, size="1", color_scheme="gray"),
            rx.vstack(rx.foreach(ReviewState.lead_messages, _message), spacing="2", width="100%"),
            rx.separator(),
            rx.cond(
                ReviewState.channel == "email",
                rx.input(
                    value=ReviewState.subject,
                    on_change=ReviewState.set_subject,
                    width="100%",
                    id="draft-subject",
                ),
            ),
            rx.text_area(
                value=ReviewState.body,
                on_change=ReviewState.set_body,
                rows="6",
                width="100%",
                id="draft-body",
            ),
            rx.cond(
                ReviewState.error != "",
                rx.text(ReviewState.error, color_scheme="red", size="2", class_name="field-error"),
            ),
            rx.text(
                "If rejected, this goes out instead: ",
                ReviewState.template_body,
                size="1",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.button("Approve (a)", on_click=ReviewState.approve, id="approve-draft"),
                rx.button(
                    "Reject (r)",
                    variant="soft",
                    color_scheme="red",
                    on_click=ReviewState.reject,
                    id="reject-draft",
                ),
                spacing="2",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@page(route=routes.APPROVALS, title="Approvals", on_load=ReviewState.load)
def approvals_page() -> rx.Component:
    return rx.vstack(
        ApprovalKeys.create(),
        rx.hstack(
            rx.heading("Approvals", size="6"),
            rx.spacer(),
            rx.select.root(
                rx.select.trigger(id="draft-campaign"),
                rx.select.content(
                    rx.select.item("Every campaign", value=ALL),
                    rx.foreach(
                        ReviewState.campaign_choices,
                        lambda c: rx.select.item(c["label"], value=c["value"]),
                    ),
                ),
                value=ReviewState.campaign_filter,
                on_change=ReviewState.set_campaign_filter,
            ),
            rx.button(
                "Approve all of this campaign",
                variant="soft",
                disabled=ReviewState.campaign_filter == ALL,
                on_click=ReviewState.approve_all,
                id="approve-all",
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            ReviewState.rows.length() == 0,
            rx.callout("Nothing waits for approval.", icon="check", id="queue-empty"),
            rx.grid(
                rx.scroll_area(
                    rx.vstack(rx.foreach(ReviewState.rows, _row), spacing="1"),
                    type="auto",
                    style={"max_height": "70vh"},
                ),
                _editor(),
                columns=rx.breakpoints(initial="1fr", md="1fr 2fr"),
                spacing="4",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )
