"""Each office's Slack settings: where alerts go (its own incoming webhook, else the
deployment's `SLACK_WEBHOOK_URL`), which events alert, the campaign failure threshold, and
the state Settings shows (off / ok / needs attention)."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.alerts import repository
from recovery_app.errors import ValidationFailed
from recovery_app.integrations import slack
from recovery_app.models import TenantIntegration, User
from recovery_app.settings import Settings, get_settings, is_production

SLACK = "slack"
HOT_NEW_LEAD = "hot_new_lead"
HOT_LEAD_UNTOUCHED = "hot_lead_untouched"
REPLY_WAITING = "reply_waiting"
CAMPAIGN_FAILURES = "campaign_failures"
PROVIDER_OUTAGE = "provider_outage"
EVENTS: dict[str, str] = {
    HOT_NEW_LEAD: "A hot lead comes in",
    HOT_LEAD_UNTOUCHED: "A hot lead is untouched past the escalation time (24 h by default)",
    REPLY_WAITING: "A lead's reply waits more than 15 minutes for an answer",
    CAMPAIGN_FAILURES: "A campaign's failure rate over the last hour passes the threshold",
    PROVIDER_OUTAGE: "Texts, email or AI drafting look down (and when they are back)",
}
DEFAULT_FAILURE_PERCENT = 20
DEFAULT_FAILURE_MIN = 20


@dataclass(frozen=True, slots=True)
class OfficeSlack:
    """Where one office's alerts go and which it wants."""

    row: TenantIntegration | None
    url: str | None  # the office's own URL, else the deployment's default
    source: str  # "office" | "environment" | ""
    enabled: bool
    events: frozenset[str]
    failure_percent: int
    failure_min: int
    demo: bool = False

    @property
    def active(self) -> bool:
        return self.enabled and self.url is not None and not self.demo

    @property
    def attention(self) -> bool:
        return integrations.needs_attention(self.row, self.url)

    def wants(self, kind: str) -> bool:
        return self.active and kind in self.events

    @property
    def state(self) -> str:
        if not self.active:
            return "off"
        return integrations.NEEDS_ATTENTION if self.attention else "ok"


def office_slack(
    session: Session, *, tenant_id: int, settings: Settings | None = None
) -> OfficeSlack:
    settings = settings or get_settings()
    found = integrations.office_credential(
        session, tenant_id=tenant_id, integration=SLACK, default=settings.slack_webhook_url
    )
    config = found.config
    return OfficeSlack(
        row=found.row,
        url=found.credential,
        source=found.source,
        enabled=found.row.enabled if found.row is not None else True,
        events=frozenset(config.get("events", list(EVENTS))),
        failure_percent=int(config.get("failure_percent", DEFAULT_FAILURE_PERCENT)),
        failure_min=int(config.get("failure_min", DEFAULT_FAILURE_MIN)),
        demo=found.demo,
    )


@dataclass(frozen=True, slots=True)
class SlackStatus:
    """What Settings -> Office shows about Slack."""

    state: str  # "off" | "ok" | "needs_attention"
    source: str
    masked_url: str
    enabled: bool
    events: list[tuple[str, str, bool]]  # (key, label, on)
    failure_percent: int
    failure_min: int
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    queued: int
    agents_with_url: int
    environment_default: bool
    demo: bool = False


def slack_status(session: Session, *, viewer: Viewer) -> SlackStatus:
    require_manager(viewer, "see the Slack settings")
    office = office_slack(session, tenant_id=viewer.tenant_id)
    row = office.row
    agents = session.execute(
        select(func.count())
        .select_from(User)
        .where(
            col(User.tenant_id) == viewer.tenant_id,
            col(User.active).is_(True),
            col(User.slack_webhook_url).is_not(None),
        )
    ).scalar_one()
    return SlackStatus(
        state=office.state,
        source=office.source,
        masked_url=slack.mask(office.url),
        enabled=office.enabled,
        events=[(key, label, key in office.events) for key, label in EVENTS.items()],
        failure_percent=office.failure_percent,
        failure_min=office.failure_min,
        last_ok_at=row.last_ok_at if row else None,
        last_error=row.last_error if row else None,
        last_error_at=row.last_error_at if row else None,
        queued=repository.queued_count(session, tenant_id=viewer.tenant_id),
        agents_with_url=int(agents),
        environment_default=bool(get_settings().slack_webhook_url),
        demo=office.demo,
    )


@dataclass(frozen=True, slots=True)
class SlackChanges:
    """A manager's Slack form. `url` "" keeps the office's URL; `remove_url` drops it (the
    deployment's default applies again, if there is one)."""

    url: str = ""
    remove_url: bool = False
    enabled: bool = True
    events: list[str] = field(default_factory=lambda: list(EVENTS))
    failure_percent: str = str(DEFAULT_FAILURE_PERCENT)
    failure_min: str = str(DEFAULT_FAILURE_MIN)


def _whole(value: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise ValueError(f"a whole number from {low} to {high}")
    return number


def save_slack(
    session: Session, *, viewer: Viewer, changes: SlackChanges, now: datetime
) -> SlackStatus:
    """Managers: set the office's webhook URL, the events and the failure threshold (audited;
    the URL only masked)."""
    require_manager(viewer, "change the Slack settings")
    problems: dict[str, str] = {}
    url: str | None = None
    try:
        url = slack.check_webhook_url(changes.url, allow_loopback_http=not is_production())
    except ValueError as exc:
        problems["slack_url"] = str(exc)
    unknown = set(changes.events) - set(EVENTS)
    if unknown:
        problems["slack_events"] = f"unknown alerts: {', '.join(sorted(unknown))}"
    try:
        percent = _whole(changes.failure_percent, 1, 100)
    except ValueError as exc:
        problems["failure_percent"] = str(exc)
    try:
        minimum = _whole(changes.failure_min, 1, 10_000)
    except ValueError as exc:
        problems["failure_min"] = str(exc)
    if problems:
        raise ValidationFailed("Some Slack settings are invalid.", fields=problems)
    row = integrations.integration_row(
        session, tenant_id=viewer.tenant_id, integration=SLACK, create=True
    )
    assert row is not None
    before = integrations.settings_of(row, secret="url", mask=slack.mask)
    old_secret, was_enabled = row.secret, row.enabled
    if url is not None and url != row.secret:
        row.secret = url
    elif changes.remove_url:
        row.secret = None
    row.enabled = changes.enabled
    row.config = dict(row.config or {}) | {
        "events": [key for key in EVENTS if key in changes.events],
        "failure_percent": percent,
        "failure_min": minimum,
    }
    row.updated_at = now
    after = integrations.settings_of(row, secret="url", mask=slack.mask)
    if row.secret != old_secret or (row.enabled and not was_enabled):
        # A new address (or Slack back on) deserves a fresh try at what was waiting.
        repository.release_held_alerts(session, tenant_id=viewer.tenant_id, user_id=None)
    integrations.audit_settings_change(
        session, viewer=viewer, row=row, before=before, after=after, integration=SLACK
    )
    return slack_status(session, viewer=viewer)
