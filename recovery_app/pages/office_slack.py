"""Settings -> Office: the Slack alerts card."""

import reflex as rx

from recovery_app.components.integration_card import field_problem, integration_card, secret_input
from recovery_app.states.office_slack import OfficeSlackState as S
from recovery_app.states.office_slack import SlackEventRow


def _event(row: SlackEventRow) -> rx.Component:
    return rx.checkbox(
        row["label"], name="event_" + row["key"], default_checked=row["on"], size="2"
    )


def _number(name: str, label: str, aria: str, value) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2"),
        rx.input(name=name, type="number", default_value=value, aria_label=aria, width="8rem"),
        field_problem(S, name),
        spacing="1",
    )


def slack_section() -> rx.Component:
    return integration_card(
        S,
        prefix="slack",
        title="Slack alerts",
        description=(
            "Hot new leads, hot leads nobody touched, replies waiting over 15 minutes, "
            "failing campaigns and provider outages, each with a link. Agents with their "
            "own webhook (Settings -> Team) also get the alerts about their leads."
        ),
        fields=[
            secret_input(
                "slack_url",
                input_id="slack-url",
                label="Slack incoming webhook URL",
                placeholder="https://hooks.slack.com/services/... (empty keeps the current one)",
                type="url",
                max_length=500,
            ),
            field_problem(S, "slack_url"),
            rx.checkbox(
                "Remove this office's URL (the deployment's default applies, if any)",
                name="slack_remove",
            ),
            rx.checkbox(
                "Post alerts to Slack", name="slack_enabled", default_checked=S.card["enabled"]
            ),
            rx.vstack(
                rx.text("Alert when", size="2", weight="medium"),
                rx.foreach(S.events, _event),
                spacing="1",
                role="group",
                aria_label="Alert when",
            ),
            field_problem(S, "slack_events"),
            rx.hstack(
                _number(
                    "failure_percent",
                    "Failure threshold (%)",
                    "Campaign failure threshold in percent",
                    S.failure_percent,
                ),
                _number(
                    "failure_min",
                    "Out of at least (sends in the last hour)",
                    "Minimum sends before the failure rate counts",
                    S.failure_min,
                ),
                spacing="4",
                wrap="wrap",
            ),
        ],
        test_label="Send test message",
        card_id="integration-slack",
    )
