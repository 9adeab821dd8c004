"""Campaigns (managers): every campaign with its status, what it has done so far and the actions
its status allows; "New campaign" opens the wizard."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.states.campaigns import CampaignRow
from recovery_app.states.campaigns import CampaignsState as S

STATUS_COLORS = {
    "draft": "gray",
    "scheduled": "blue",
    "active": "grass",
    "paused": "amber",
    "completed": "teal",
}
# (column, key, help text): the performance columns, in the order the table shows them.
FIGURES = (
    ("Enrolled", "enrolled", "Leads put into the campaign"),
    ("Sent", "sent", "Messages that left"),
    ("Delivered", "delivered", "Confirmed by the carrier or mailbox"),
    ("Replied", "replied", "Messages the lead answered"),
    ("Recovered", "recovered", "Leads who answered while in the campaign"),
    ("Converted", "converted", "Deals credited to the campaign"),
    ("Revenue", "revenue", "Value of those deals"),
    ("Cost", "cost", "Messages as sent, and AI drafts"),
    ("ROI", "roi", "Revenue per dollar spent"),
)


def status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        radius="full",
        class_name="campaign-status",
    )


def _actions(row: CampaignRow) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.cond(S.busy_id == row["id"], rx.spinner(size="1"), rx.icon("ellipsis", size=16)),
                variant="ghost",
                aria_label="Actions for " + row["name"],
                class_name="campaign-actions",
            )
        ),
        rx.menu.content(
            rx.cond(
                row["can_edit"],
                rx.menu.item(
                    rx.icon("pencil", size=14),
                    "Edit in the wizard",
                    on_click=rx.redirect(row["href"]),
                    class_name="action-edit",
                ),
            ),
            rx.cond(
                row["can_pause"],
                rx.menu.item(
                    rx.icon("pause", size=14),
                    "Pause",
                    on_click=S.pause(row["id"]),
                    class_name="action-pause",
                ),
            ),
            rx.cond(
                row["can_resume"],
                rx.menu.item(
                    rx.icon("play", size=14),
                    "Resume",
                    on_click=S.resume(row["id"]),
                    class_name="action-resume",
                ),
            ),
            rx.cond(
                row["can_unschedule"],
                rx.menu.item(
                    rx.icon("calendar-x", size=14),
                    "Unschedule (back to draft)",
                    on_click=S.unschedule(row["id"]),
                    class_name="action-unschedule",
                ),
            ),
            rx.menu.item(
                rx.icon("copy", size=14),
                "Duplicate",
                on_click=S.duplicate(row["id"]),
                class_name="action-duplicate",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("archive", size=14),
                rx.cond(row["can_edit"], "Delete draft...", "Archive..."),
                color="red",
                on_click=S.ask_archive(row["id"]),
                class_name="action-archive",
            ),
        ),
    )


def _name_cell(row: CampaignRow) -> rx.Component:
    return rx.table.row_header_cell(
        rx.vstack(
            rx.hstack(
                rx.cond(
                    row["href"] != "",
                    rx.link(row["name"], href=row["href"], weight="medium", class_name="name"),
                    rx.text(row["name"], weight="medium", class_name="name"),
                ),
                status_badge(row["status"]),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(row["detail"], size="1", color_scheme="gray"),
            spacing="1",
        ),
        min_width="14rem",
    )


def _row(row: CampaignRow) -> rx.Component:
    return rx.table.row(
        _name_cell(row),
        rx.table.cell(
            rx.vstack(
                rx.text(row["enrolled"], weight="bold", class_name="enrolled"),
                rx.text(row["active"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        *(
            rx.table.cell(rx.text(row[key], size="2", white_space="nowrap", class_name=key))  # type: ignore[literal-required]
            for _, key, _ in FIGURES[1:]
        ),
        rx.table.cell(_actions(row)),
        class_name="campaign-row",
        id="campaign-" + row["id"].to_string(),
    )


def table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Campaign"),
                    *(
                        rx.table.column_header_cell(
                            rx.tooltip(rx.text(label), content=why), white_space="nowrap"
                        )
                        for label, _, why in FIGURES
                    ),
                    rx.table.column_header_cell(rx.text("Actions", class_name="rt-sr-only")),
                )
            ),
            rx.table.body(rx.foreach(S.rows, _row)),
            variant="surface",
            size="1",
            width="100%",
            id="campaign-table",
        ),
        # The figures scroll inside their box; the page keeps the screen's width on a phone.
        width="100%",
        max_width="100%",
        overflow_x="auto",
    )


def empty_state() -> rx.Component:
    return rx.callout(
        "No campaigns yet. A campaign writes to the leads an audience rule picks, step by "
        "step, by text and email, inside the send window you choose. Start one with "
        '"New campaign".',
        icon="megaphone",
        color_scheme="gray",
        id="campaigns-empty",
    )


def archive_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(rx.cond(S.archive_deletes, "Delete draft", "Archive campaign")),
            # The description is a <p> itself: text only inside it, no <p> of its own.
            rx.alert_dialog.description(
                rx.cond(
                    S.archive_deletes,
                    rx.fragment("“", S.archive_name, "” never ran: it is deleted for good."),
                    rx.fragment(
                        "“",
                        S.archive_name,
                        "” stops: its enrollments end and queued messages are dropped. Its "
                        "results stay in ROI.",
                    ),
                ),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                ),
                rx.button(
                    rx.cond(S.archive_deletes, "Delete", "Archive"),
                    color_scheme="red",
                    loading=S.busy_id == S.archive_id,
                    on_click=S.archive,
                    id="archive-confirm",
                ),
                justify="end",
                spacing="3",
                padding_top="1rem",
            ),
            max_width="28rem",
        ),
        open=S.archive_id != 0,
        on_open_change=S.archive_dialog_changed,
    )


@page(route=routes.CAMPAIGNS, title="Campaigns", on_load=S.load)
def campaigns_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Campaigns", size="6"),
            rx.cond(S.loading, rx.spinner(size="2")),
            rx.spacer(),
            rx.button(
                rx.icon("plus", size=16),
                "New campaign",
                on_click=rx.redirect(routes.CAMPAIGN_NEW),
                id="new-campaign",
            ),
            align="center",
            width="100%",
            spacing="3",
        ),
        rx.text(
            "Multi-step text and email sequences for silent and cold leads. Figures count from "
            "launch; revenue is the deals credited to each campaign.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(S.rows.length() > 0, table(), empty_state()),
        archive_dialog(),
        spacing="4",
        width="100%",
    )
