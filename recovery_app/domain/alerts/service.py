"""Which events alert the office's Slack, and the alerts' words.

Alerts are queued (a row in the caller's transaction) and posted by the `slack_alerts` job,
so noticing an event never waits on Slack and a Slack outage loses nothing. Each alert has a
dedupe key - the lead and the moment for a lead event, the incident's start for an outage or a
campaign's failures - so the same event alerts once however often it is seen: an outage is one
alert when it starts and one when it ends, not one per failed send.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app import routes
from recovery_app.domain.accounts import integrations
from recovery_app.domain.alerts import repository
from recovery_app.domain.alerts.config import (
    CAMPAIGN_FAILURES,
    HOT_LEAD_UNTOUCHED,
    HOT_NEW_LEAD,
    PROVIDER_OUTAGE,
    REPLY_WAITING,
    SLACK,
    OfficeSlack,
    office_slack,
)
from recovery_app.domain.leads.inbox import waiting_clause
from recovery_app.integrations import http, slack
from recovery_app.models import (
    Campaign,
    Lead,
    Message,
    MessageStatus,
    SlackAlert,
    Tenant,
    TenantIntegration,
    User,
    pk,
)
from recovery_app.settings import get_settings

REPLY_WAIT = timedelta(minutes=15)
# Replies older than this are not alerted when first seen (a job that was off, a go-live):
# the inbox shows them; Slack is for what can still be answered fast.
REPLY_LOOKBACK = timedelta(hours=24)
REPLY_SCAN_LIMIT = 200
FAILURE_WINDOW = timedelta(hours=1)
OUTAGE_WINDOW = timedelta(minutes=10)
OUTAGE_MIN_FAILURES = 5
# Providers whose sends the dispatcher records on messages (provider column) and their names.
SENDING_PROVIDERS = {"twilio": "Texts (Twilio)", "sendgrid": "Email (SendGrid)"}
PROVIDER_NAMES = {**SENDING_PROVIDERS, "anthropic": "AI drafting (Anthropic)"}
FAILED = (MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.BOUNCED)


def page_url(path: str) -> str:
    return f"{get_settings().app_base_url}{path}"


def lead_name(lead: Lead) -> str:
    return (
        f"{lead.first_name or ''} {lead.last_name or ''}".strip()
        or lead.phone
        or lead.email
        or f"Lead {lead.id}"
    )


def _queue(
    session: Session,
    office: OfficeSlack,
    *,
    tenant_id: int,
    kind: str,
    key: str,
    title: str,
    lines: list[str],
    url: str,
    now: datetime,
    lead_id: int | None = None,
    agent: User | None = None,
    button: str = "Open lead",
) -> int:
    """Queue the alert for the office's channel, and a copy for the agent's own webhook when
    they have one; how many rows were new."""
    if not office.wants(kind):
        return 0
    payload = slack.message(title, lines, url=url, button=button)
    targets: list[int | None] = [None]
    if agent is not None and agent.active and agent.slack_webhook_url:
        targets.append(pk(agent))
    queued = 0
    for user_id in targets:
        suffix = "" if user_id is None else f"@user:{user_id}"
        queued += repository.enqueue(
            session,
            SlackAlert(
                tenant_id=tenant_id,
                user_id=user_id,
                kind=kind,
                dedupe_key=f"{key[: 200 - len(suffix)]}{suffix}",
                lead_id=lead_id,
                title=title[:300],
                url=url,
                payload=payload,
                created_at=now,
            ),
        )
    return queued


def _owner_line(agent: User | None) -> str:
    if agent is None:
        return "Nobody is assigned yet."
    return f"Assigned to {slack.escape(agent.full_name or agent.email)}."


# --- lead events (called where they happen) ------------------------------------------------------


def hot_new_lead(session: Session, *, lead: Lead, agent: User | None, now: datetime) -> int:
    """Intake created a lead that scored hot (after routing, so the alert names its agent)."""
    office = office_slack(session, tenant_id=lead.tenant_id)
    if not office.wants(HOT_NEW_LEAD):
        return 0
    url = page_url(routes.lead_detail(pk(lead)))
    return _queue(
        session,
        office,
        tenant_id=lead.tenant_id,
        kind=HOT_NEW_LEAD,
        key=f"{HOT_NEW_LEAD}:{lead.id}",
        title=f":fire: Hot new lead: {lead_name(lead)}",
        lines=[
            f"Score {lead.score} · {slack.escape(str(lead.source or 'unknown source'))}",
            _owner_line(agent),
            slack.link(url, "Open the lead"),
        ],
        url=url,
        now=now,
        lead_id=pk(lead),
        agent=agent,
    )


def hot_lead_untouched(session: Session, *, lead: Lead, hours: int, now: datetime) -> int:
    """The escalation job found a hot lead no person has touched within `hours`."""
    office = office_slack(session, tenant_id=lead.tenant_id)
    if not office.wants(HOT_LEAD_UNTOUCHED):
        return 0
    agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    url = page_url(routes.lead_detail(pk(lead)))
    return _queue(
        session,
        office,
        tenant_id=lead.tenant_id,
        kind=HOT_LEAD_UNTOUCHED,
        key=f"{HOT_LEAD_UNTOUCHED}:{lead.id}",
        title=f":alarm_clock: Hot lead untouched for {hours} h: {lead_name(lead)}",
        lines=[
            f"Score {lead.score}; no call, note or message from a person yet.",
            _owner_line(agent),
            slack.link(url, "Open the lead"),
        ],
        url=url,
        now=now,
        lead_id=pk(lead),
        agent=agent,
    )


# --- the scan: events found by looking (run by the slack_alerts job) ----------------------------


@dataclass
class _Incidents:
    """Open incidents of one office (an outage, a failing campaign), kept on its Slack row so
    an incident alerts when it starts and when it ends, and never in between."""

    session: Session
    tenant_id: int
    row: TenantIntegration | None
    open: dict[str, str] = field(default_factory=dict)
    changed: bool = False

    def __post_init__(self) -> None:
        self.open = dict(((self.row.state or {}) if self.row else {}).get("incidents", {}))

    def start(self, key: str, now: datetime) -> str | None:
        """The incident's start when it opens now; None when it was already open."""
        if key in self.open:
            return None
        self.open[key], self.changed = now.isoformat(), True
        return self.open[key]

    def end(self, key: str) -> str | None:
        """The start of the incident that ends now; None when none was open."""
        started = self.open.pop(key, None)
        self.changed = self.changed or started is not None
        return started

    def keys(self, prefix: str) -> list[str]:
        return [key for key in self.open if key.startswith(prefix)]

    def save(self) -> None:
        if not self.changed:
            return
        row = self.row or integrations.integration_row(
            self.session, tenant_id=self.tenant_id, integration=SLACK, create=True
        )
        assert row is not None
        row.state = dict(row.state or {}) | {"incidents": self.open}


def _offices(session: Session) -> Iterable[int]:
    """Offices whose Slack may be on: with a deployment default every real office, else those
    that set their own URL. (Demo sandboxes never alert.)"""
    real = (col(Tenant.is_demo).is_(False), col(Tenant.demo_expires_at).is_(None))
    if get_settings().slack_webhook_url:
        return [int(t or 0) for t in session.execute(select(col(Tenant.id)).where(*real)).scalars()]
    return list(
        session.execute(
            select(col(TenantIntegration.tenant_id))
            .join(Tenant, col(Tenant.id) == col(TenantIntegration.tenant_id))
            .where(
                col(TenantIntegration.integration) == SLACK,
                col(TenantIntegration.secret).is_not(None),
                col(TenantIntegration.enabled).is_(True),
                *real,
            )
        ).scalars()
    )


def scan(session: Session, *, now: datetime) -> dict[str, int]:
    """Queue the alerts found by looking: replies waiting, campaigns failing, providers down."""
    counts = {"replies_waiting": 0, "campaign_alerts": 0, "outage_alerts": 0}
    for tenant_id in _offices(session):
        office = office_slack(session, tenant_id=tenant_id)
        if not office.active:
            continue
        incidents = _Incidents(session, tenant_id, office.row)
        if office.wants(REPLY_WAITING):
            counts["replies_waiting"] += _replies_waiting(session, office, tenant_id, now)
        if office.wants(CAMPAIGN_FAILURES):
            counts["campaign_alerts"] += _campaign_failures(
                session, office, incidents, tenant_id, now
            )
        if office.wants(PROVIDER_OUTAGE):
            counts["outage_alerts"] += _outages(session, office, incidents, tenant_id, now)
        incidents.save()
    return counts


def _replies_waiting(session: Session, office: OfficeSlack, tenant_id: int, now: datetime) -> int:
    leads = (
        session.execute(
            select(Lead)
            .where(
                col(Lead.tenant_id) == tenant_id,
                waiting_clause(),
                col(Lead.last_inbound_at) <= now - REPLY_WAIT,
                col(Lead.last_inbound_at) >= now - REPLY_LOOKBACK,
            )
            .order_by(col(Lead.last_inbound_at))
            .limit(REPLY_SCAN_LIMIT)
        )
        .scalars()
        .all()
    )

    def key(lead: Lead) -> str:
        # The reply's moment is in the key: the same waiting reply alerts once; a new reply
        # after we answered is a new wait.
        assert lead.last_inbound_at is not None
        return f"{REPLY_WAITING}:{lead.id}:{int(lead.last_inbound_at.timestamp())}"

    seen = repository.existing_keys(session, tenant_id=tenant_id, keys=[key(x) for x in leads])
    fresh = [lead for lead in leads if key(lead) not in seen]
    agent_ids = {lead.assigned_user_id for lead in fresh if lead.assigned_user_id}
    agents = {
        pk(user): user
        for user in session.execute(select(User).where(col(User.id).in_(agent_ids))).scalars()
    }
    queued = 0
    for lead in fresh:
        assert lead.last_inbound_at is not None
        minutes = int((now - lead.last_inbound_at).total_seconds() // 60)
        agent = agents.get(lead.assigned_user_id or 0)
        url = page_url(routes.lead_detail(pk(lead)))
        queued += _queue(
            session,
            office,
            tenant_id=tenant_id,
            kind=REPLY_WAITING,
            key=key(lead),
            title=f":speech_balloon: {lead_name(lead)} replied {minutes} min ago; no answer yet",
            lines=[_owner_line(agent), slack.link(url, "Open the conversation")],
            url=url,
            now=now,
            lead_id=pk(lead),
            agent=agent,
        )
    return queued


def _campaign_failures(
    session: Session, office: OfficeSlack, incidents: _Incidents, tenant_id: int, now: datetime
) -> int:
    """Per campaign, over the last hour: sends that failed (failed, undelivered, bounced) out
    of sends attempted (accepted by the provider, or failed without ever being accepted)."""
    since = now - FAILURE_WINDOW
    ours = (col(Message.tenant_id) == tenant_id, col(Message.campaign_id).is_not(None))
    sent = dict(
        session.execute(
            select(col(Message.campaign_id), func.count())
            .where(*ours, col(Message.sent_at) >= since)
            .group_by(col(Message.campaign_id))
        ).all()
    )
    failed: dict[int, tuple[int, int]] = {
        campaign_id: (int(total), int(unsent or 0))
        for campaign_id, total, unsent in session.execute(
            select(
                col(Message.campaign_id),
                func.count(),
                func.sum(
                    case(
                        (
                            or_(col(Message.sent_at).is_(None), col(Message.sent_at) < since),
                            1,
                        ),
                        else_=0,
                    )
                ),
            )
            .where(*ours, col(Message.failed_at) >= since, col(Message.status).in_(FAILED))
            .group_by(col(Message.campaign_id))
        ).all()
    }
    candidates: set[int] = {int(c or 0) for c in sent} | set(failed)
    candidates |= {int(key.split(":")[1]) for key in incidents.keys("campaign:")}
    if not candidates:
        return 0
    names = dict(
        session.execute(
            select(col(Campaign.id), col(Campaign.name)).where(
                col(Campaign.id).in_(candidates), col(Campaign.tenant_id) == tenant_id
            )
        ).all()
    )
    url = page_url(routes.CAMPAIGNS)
    queued = 0
    for campaign_id in sorted(candidates):
        bad, unsent = failed.get(campaign_id, (0, 0))
        total = int(sent.get(campaign_id, 0)) + unsent
        name = names.get(campaign_id, f"#{campaign_id}")
        incident = f"campaign:{campaign_id}"
        measured = total >= office.failure_min
        over = measured and bad * 100 >= office.failure_percent * total
        if over:
            started = incidents.start(incident, now)
            if started is None:
                continue
            queued += _queue(
                session,
                office,
                tenant_id=tenant_id,
                kind=CAMPAIGN_FAILURES,
                key=f"{CAMPAIGN_FAILURES}:{campaign_id}:{started}",
                title=f":warning: Campaign {name}: {bad} of {total} sends failed in the last "
                f"hour ({round(100 * bad / total)} %)",
                lines=[
                    f"Over the office's threshold of {office.failure_percent} % (at least "
                    f"{office.failure_min} sends). The lead pages show each message's error.",
                    slack.link(url, "Open campaigns"),
                ],
                url=url,
                now=now,
                button="Open campaigns",
            )
        elif incident in incidents.open:
            started = incidents.end(incident)
            if not measured:
                continue  # too few sends to say it recovered; it just went quiet
            queued += _queue(
                session,
                office,
                tenant_id=tenant_id,
                kind=CAMPAIGN_FAILURES,
                key=f"{CAMPAIGN_FAILURES}:{campaign_id}:{started}:resolved",
                title=f":white_check_mark: Campaign {name} is back under "
                f"{office.failure_percent} % failures ({bad} of {total} in the last hour)",
                lines=[slack.link(url, "Open campaigns")],
                url=url,
                now=now,
                button="Open campaigns",
            )
    return queued


def _provider_health(session: Session, tenant_id: int, now: datetime) -> dict[str, bool | None]:
    """name -> down (True), up (False) or no evidence either way (None)."""
    since = now - OUTAGE_WINDOW
    ours = (col(Message.tenant_id) == tenant_id, col(Message.provider).in_(SENDING_PROVIDERS))
    # Sends waiting to be retried after a transient error (5xx, 429, timeout, no connection):
    # the dispatcher puts them back in the queue with the error and a later attempt time.
    failing = dict(
        session.execute(
            select(col(Message.provider), func.count())
            .where(
                *ours,
                col(Message.status).in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
                col(Message.next_attempt_at) >= since,
                col(Message.error_code).is_not(None),
                col(Message.hold_reason).is_(None),
                col(Message.updated_at) >= since,
            )
            .group_by(col(Message.provider))
        ).all()
    )
    working = dict(
        session.execute(
            select(col(Message.provider), func.count())
            .where(*ours, col(Message.sent_at) >= since)
            .group_by(col(Message.provider))
        ).all()
    )
    health: dict[str, bool | None] = {}
    for name in SENDING_PROVIDERS:
        failures, successes = int(failing.get(name, 0)), int(working.get(name, 0))
        if successes or not failures:
            health[name] = False
        elif failures >= OUTAGE_MIN_FAILURES:
            health[name] = True
        else:
            health[name] = None  # a few failures and nothing else: wait and see
    if get_settings().anthropic_api_key:
        from recovery_app.messaging.drafting import get_drafter

        # The drafter's breaker lives in this process: the scheduler's, where sweeps draft.
        health["anthropic"] = get_drafter().breaker.is_open
    for name in http.open_breakers():
        if name != SLACK:
            health[name] = True
    return health


def _outages(
    session: Session, office: OfficeSlack, incidents: _Incidents, tenant_id: int, now: datetime
) -> int:
    health = _provider_health(session, tenant_id, now)
    # An incident whose integration no longer reports (a closed breaker is not listed) is over.
    for key in incidents.keys("outage:"):
        health.setdefault(key.split(":", 1)[1], False)
    url = page_url(routes.DASHBOARD)
    queued = 0
    for name, down in sorted(health.items()):
        label = PROVIDER_NAMES.get(name, name)
        incident = f"outage:{name}"
        if down:
            started = incidents.start(incident, now)
            if started is None:
                continue
            detail = (
                f"{OUTAGE_MIN_FAILURES} or more sends failed in the last "
                f"{int(OUTAGE_WINDOW.total_seconds() // 60)} minutes and none went through; "
                "they wait in the outbox and retry by themselves."
                if name in SENDING_PROVIDERS
                else "Its calls keep failing, so they are paused for a minute at a time"
                + (
                    "; campaign steps use their templates meanwhile."
                    if name == "anthropic"
                    else "."
                )
            )
            queued += _queue(
                session,
                office,
                tenant_id=tenant_id,
                kind=PROVIDER_OUTAGE,
                key=f"{PROVIDER_OUTAGE}:{name}:{started}",
                title=f":rotating_light: {label} looks down",
                lines=[detail, slack.link(url, "Open the dashboard")],
                url=url,
                now=now,
                button="Open the dashboard",
            )
        elif down is False and incident in incidents.open:
            started = incidents.end(incident)
            since = (started or "")[11:16]
            queued += _queue(
                session,
                office,
                tenant_id=tenant_id,
                kind=PROVIDER_OUTAGE,
                key=f"{PROVIDER_OUTAGE}:{name}:{started}:resolved",
                title=f":white_check_mark: {label} is working again",
                lines=[f"Down since {since} UTC.", slack.link(url, "Open the dashboard")],
                url=url,
                now=now,
                button="Open the dashboard",
            )
    return queued
