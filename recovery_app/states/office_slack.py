"""Settings -> Office -> Slack alerts (managers): the office's incoming webhook, which events
alert, the campaign failure threshold, and a real test message."""

from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.alerts import config, delivery
from recovery_app.integrations.slack import Verdict
from recovery_app.states.db import in_session
from recovery_app.states.integration_card import (
    CardRow,
    CardSpec,
    IntegrationCardState,
    TestOutcome,
    card_spec,
    last_error,
    last_ok,
)
from recovery_app.states.session import SessionState


class SlackEventRow(TypedDict):
    key: str
    label: str
    on: bool


def _row(status: config.SlackStatus, now: datetime) -> CardRow:
    where = {
        "office": f"This office's webhook {status.masked_url}",
        "environment": f"The deployment's default (SLACK_WEBHOOK_URL) {status.masked_url}",
    }.get(status.source, "No webhook URL: paste one below.")
    if status.demo:
        where = (
            "A demo office: nothing is posted to Slack (like its texts and emails), "
            "test messages included. " + where
        )
    return CardRow(
        state=status.state,
        where=where,
        enabled=status.enabled,
        last_ok=last_ok(
            status.last_ok_at, now, done="Last delivered", never="Nothing delivered yet"
        ),
        last_error=last_error(status.last_error, status.last_error_at, now),
        waiting=f"{status.queued} waiting to post" if status.queued else "",
        usage=(
            f"{status.agents_with_url} agents also get their own alerts"
            if status.agents_with_url
            else ""
        ),
    )


def _show(state: Any, status: config.SlackStatus, now: datetime) -> None:
    state.card = _row(status, now)
    state.events = [SlackEventRow(key=k, label=label, on=on) for k, label, on in status.events]
    state.failure_percent = str(status.failure_percent)
    state.failure_min = str(status.failure_min)


def _changes(form: dict[str, Any]) -> config.SlackChanges:
    return config.SlackChanges(
        url=str(form.get("slack_url") or ""),
        remove_url=form.get("slack_remove") in ("on", "true", True),
        enabled=form.get("slack_enabled") in ("on", "true", True),
        events=[key for key in config.EVENTS if form.get(f"event_{key}") in ("on", True)],
        failure_percent=str(form.get("failure_percent") or ""),
        failure_min=str(form.get("failure_min") or ""),
    )


async def _test(viewer: Viewer) -> TestOutcome:
    """Post a real test message to the office's webhook."""
    destination, payload = await in_session(
        lambda s: (
            delivery.test_destination(s, viewer=viewer),
            delivery.test_payload(s, viewer.tenant_id, viewer),
        )
    )
    answer = await delivery.post_test(destination, payload)
    now = datetime.now(UTC)

    def record(s: Session) -> config.SlackStatus:
        delivery.record_test(s, viewer=viewer, destination=destination, answer=answer, now=now)
        return config.slack_status(s, viewer=viewer)

    status = await in_session(record)
    return TestOutcome(answer.verdict == Verdict.DELIVERED, answer.detail, status)


@card_spec(
    CardSpec(
        name="Slack",
        status=lambda s, viewer, now: config.slack_status(s, viewer=viewer),
        show=_show,
        changes=_changes,
        save=lambda s, viewer, changes, now: config.save_slack(
            s, viewer=viewer, changes=changes, now=now
        ),
        test=_test,
    )
)
class OfficeSlackState(IntegrationCardState, SessionState):
    events: list[SlackEventRow] = []
    failure_percent: str = ""
    failure_min: str = ""
