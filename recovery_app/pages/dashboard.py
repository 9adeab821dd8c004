"""The dashboard, the landing page after sign-in: today's figures, the recovery funnel, each
agent's numbers (managers) and what just happened - live while the page is open."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.figures import figure_card
from recovery_app.components.layout import page
from recovery_app.states.dashboard import TICK_MS, AgentRow, DashboardState, FeedRow


def _agent_row(row: AgentRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["name"]),
        rx.table.cell(row["new_today"]),
        rx.table.cell(row["speed"]),
        rx.table.cell(row["silent_now"]),
        rx.table.cell(row["recovered_week"]),
        rx.table.cell(row["replies_waiting"]),
        class_name="agent-row",
    )


def _feed_row(row: FeedRow) -> rx.Component:
    return rx.hstack(
        rx.link(row["text"], href=row["href"], size="2"),
        rx.spacer(),
        rx.text(row["when"], size="1", color_scheme="gray", white_space="nowrap"),
        width="100%",
        class_name="feed-row",
    )


@page(route=routes.DASHBOARD, title="Dashboard", on_load=DashboardState.load)
def dashboard_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Dashboard", size="6"),
            rx.spacer(),
            rx.text(DashboardState.updated, size="1", color_scheme="gray", id="updated"),
            width="100%",
            align="center",
        ),
        rx.cond(
            DashboardState.unmatched_texts > 0,
            rx.callout(
                rx.link(
                    DashboardState.unmatched_texts.to_string(),
                    " texts to a shared number fit no office: assign them",
                    href=routes.UNMATCHED,
                ),
                icon="message-circle-question",
                color_scheme="amber",
                width="100%",
                id="unmatched-texts",
            ),
        ),
        # The browser drives the updates: no server loop outlives the page.
        rx.moment(interval=TICK_MS, on_change=DashboardState.tick, display="none"),
        rx.grid(
            rx.foreach(DashboardState.cards, lambda card: figure_card(card)),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.grid(
            rx.card(
                rx.heading("Recovery funnel, last 90 days", size="3"),
                rx.plotly(data=DashboardState.funnel, id="funnel"),
                width="100%",
            ),
            rx.card(
                rx.heading("Live activity", size="3"),
                rx.scroll_area(
                    rx.vstack(rx.foreach(DashboardState.feed, _feed_row), spacing="2"),
                    type="auto",
                    style={"height": "300px"},
                ),
                id="feed",
                width="100%",
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="3",
            width="100%",
        ),
        rx.cond(
            DashboardState.is_manager,
            rx.card(
                rx.heading("By agent", size="3"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *(
                                rx.table.column_header_cell(h)
                                for h in (
                                    "Agent",
                                    "New today",
                                    "Speed (median)",
                                    "Silent now",
                                    "Recovered this week",
                                    "Replies waiting",
                                )
                            )
                        )
                    ),
                    rx.table.body(rx.foreach(DashboardState.agent_rows, _agent_row)),
                    size="1",
                    width="100%",
                ),
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )
