"""Settings -> Office (managers): the office profile form, the integrations' status and the
office's Slack alerts (URL, events, threshold, test message)."""

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app.domain.accounts import integrations, office
from recovery_app.domain.accounts import repository as accounts
from recovery_app.domain.alerts import config as slack_config
from recovery_app.domain.alerts import delivery as slack_delivery
from recovery_app.errors import ValidationFailed
from recovery_app.integrations.slack import Verdict
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.session import SessionState


class UrlRow(TypedDict):
    label: str
    url: str


class IntegrationRow(TypedDict):
    key: str
    name: str
    configured: bool
    detail: str
    urls: list[UrlRow]
    last: str
    failures: int


def _integration_row(item: integrations.Integration, now: datetime) -> IntegrationRow:
    return IntegrationRow(
        key=item.key,
        name=item.name,
        configured=item.configured,
        detail=item.detail,
        urls=[UrlRow(label=label, url=url) for label, url in item.urls],
        last=(
            f"Last call for this office {relative_time(item.last_received_at, now)}"
            if item.last_received_at
            else ("No call for this office yet" if item.urls else "")
        ),
        failures=item.signature_failures,
    )


class SlackEventRow(TypedDict):
    key: str
    label: str
    on: bool


class SlackRow(TypedDict):
    state: str  # "off" | "ok" | "needs_attention"
    where: str  # where alerts go, masked
    enabled: bool
    last_ok: str
    last_error: str
    queued: int
    agents: int
    failure_percent: str
    failure_min: str


STATE_LABELS = {"off": "Off", "ok": "OK", "needs_attention": "Needs attention"}


def _slack_row(status: slack_config.SlackStatus, now: datetime) -> SlackRow:
    where = {
        "office": f"This office's webhook {status.masked_url}",
        "environment": f"The deployment's default (SLACK_WEBHOOK_URL) {status.masked_url}",
    }.get(status.source, "No webhook URL: paste one below.")
    if status.demo:
        where = (
            "A demo office: alerts are not posted (like its texts and emails); "
            "the test message still goes out. " + where
        )
    return SlackRow(
        state=status.state,
        where=where,
        enabled=status.enabled,
        last_ok=f"Last delivered {relative_time(status.last_ok_at, now)}"
        if status.last_ok_at
        else "Nothing delivered yet",
        last_error=f"{status.last_error} ({relative_time(status.last_error_at, now)})"
        if status.last_error and status.last_error_at
        else "",
        queued=status.queued,
        agents=status.agents_with_url,
        failure_percent=str(status.failure_percent),
        failure_min=str(status.failure_min),
    )


def _slack_changes(form: dict[str, Any]) -> slack_config.SlackChanges:
    return slack_config.SlackChanges(
        url=str(form.get("slack_url") or ""),
        remove_url=form.get("slack_remove") in ("on", "true", True),
        enabled=form.get("slack_enabled") in ("on", "true", True),
        events=[key for key in slack_config.EVENTS if form.get(f"event_{key}") in ("on", True)],
        failure_percent=str(form.get("failure_percent") or ""),
        failure_min=str(form.get("failure_min") or ""),
    )


class OfficeState(SessionState):
    # The form's values as strings, keyed like the form's fields.
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    saving: bool = False
    integrations: list[IntegrationRow] = []
    # Bumped on every load so the form (uncontrolled inputs) re-reads its default values.
    form_key: int = 0
    slack: SlackRow = SlackRow(
        state="off",
        where="",
        enabled=True,
        last_ok="",
        last_error="",
        queued=0,
        agents=0,
        failure_percent="",
        failure_min="",
    )
    slack_events: list[SlackEventRow] = []
    slack_problems: dict[str, str] = {}
    slack_saving: bool = False
    slack_testing: bool = False
    # Slack's answer to the last test message, word for word.
    slack_test_answer: str = ""
    slack_test_ok: bool = False

    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("the office settings")
        now = datetime.now(UTC)

        def read(
            s: Session,
        ) -> tuple[Any, list[integrations.Integration], slack_config.SlackStatus]:
            tenant = accounts.get_tenant(s, viewer.tenant_id)
            assert tenant is not None
            return (
                office.profile_of(tenant),
                integrations.integration_status(s, viewer=viewer, now=now),
                slack_config.slack_status(s, viewer=viewer),
            )

        profile, found, slack = await in_session(read)
        self.values = office.form_of(profile)
        self.problems = {}
        self.integrations = [_integration_row(item, now) for item in found]
        self._show_slack(slack, now)
        self.slack_problems = {}
        self.slack_test_answer = ""
        self.form_key += 1

    def _show_slack(self, status: slack_config.SlackStatus, now: datetime) -> None:
        self.slack = _slack_row(status, now)
        self.slack_events = [
            SlackEventRow(key=key, label=label, on=on) for key, label, on in status.events
        ]

    @rx.event
    async def save_slack(self, form: dict):
        viewer = await self._manager_viewer("the office settings")
        now = datetime.now(UTC)
        changes = _slack_changes(form)
        self.slack_saving = True
        yield
        try:
            status = await in_session(
                lambda s: slack_config.save_slack(s, viewer=viewer, changes=changes, now=now)
            )
        except ValidationFailed as exc:
            self.slack_problems = dict(exc.fields)
            yield rx.toast.error(exc.message)
            return
        finally:
            self.slack_saving = False
        self._show_slack(status, now)
        self.slack_problems = {}
        self.form_key += 1  # the URL field empties again (the URL is never shown back)
        yield rx.toast.success("Slack settings saved.")

    @rx.event
    async def test_slack(self):
        """Post a real test message to the office's webhook and show Slack's answer."""
        viewer = await self._manager_viewer("the office settings")
        self.slack_testing = True
        yield
        try:
            destination, payload = await in_session(
                lambda s: (
                    slack_delivery.test_destination(s, viewer=viewer),
                    slack_delivery.test_payload(s, viewer.tenant_id, viewer),
                )
            )
            answer = await slack_delivery.post_test(destination, payload)
            now = datetime.now(UTC)

            def record(s: Session) -> slack_config.SlackStatus:
                slack_delivery.record_test(
                    s, viewer=viewer, destination=destination, answer=answer, now=now
                )
                return slack_config.slack_status(s, viewer=viewer)

            status = await in_session(record)
        finally:
            self.slack_testing = False
        self._show_slack(status, now)
        self.slack_test_ok = answer.verdict == Verdict.DELIVERED
        self.slack_test_answer = answer.detail

    @rx.event
    async def save(self, form: dict):
        viewer = await self._manager_viewer("the office settings")
        self.saving = True
        yield
        try:
            profile = await in_session(
                lambda s: office.update_profile(s, viewer=viewer, data=dict(form))
            )
        except ValidationFailed as exc:
            self.problems = dict(exc.fields)
            self.values = {k: str(v) for k, v in form.items()}
            yield rx.toast.error(exc.message)
            return
        finally:
            self.saving = False
        self.values, self.problems = office.form_of(profile), {}
        yield rx.toast.success("Office settings saved.")

    @rx.var
    def problem_list(self) -> list[str]:
        return [f"{name.replace('_', ' ')}: {why}" for name, why in self.problems.items()]
