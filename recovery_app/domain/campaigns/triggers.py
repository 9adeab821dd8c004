"""Behavioral triggers: a tenant's rules that adapt the nurture to what a lead does, as it
happens ("opened 2 emails today -> +10 points", "asked for a showing -> hot, tell the agent").

A rule watches one event and does one action:
- `email_open` / `email_click`: the lead opened (clicked) at least `threshold` of our emails in
  the last `window_hours`, the event being handled included;
- `reply_keywords`: a reply (SMS or email) names one of `keywords` as a whole word, a trailing
  plural "s" allowed, case-insensitive (`DEFAULT_KEYWORDS` when the list is empty);
  `threshold` does not apply;
- `form_resubmitted`: the person sent a form again (intake merged it) at least `threshold` times
  in the last `window_hours`;
- `no_open`: the lead's last `threshold` emails that had `OPEN_GRACE` (24 h) to be opened were
  not, and no email of ours has been opened since the oldest of them. Checked when an email goes
  out and by the `evaluate_no_open` sweep (emails age past the grace without any event). It
  fires once per such run of emails: again only after a newer email aged unopened too.

The doors call `evaluate` in the transaction that records the activity (webhooks, intake, the
dispatcher), so rules fire while the event is processed, not on the next sweep. A rule fires
at most once per lead and window: the window is the aligned bucket `epoch + floor((now - epoch)
/ window_hours) * window_hours`, and the `TriggerFiring` insert (ON CONFLICT DO NOTHING) on
(rule, lead, window) decides, so two webhook workers that see the same match fire once; only
the insert's winner acts. Every firing leaves a `trigger_fired` activity.

Scores move through `Lead.score_boost`, which scoring shows as the "behavior" factor named
after the rule(s), so a score a trigger changed is explained like any other. `raise_score`
adds its points (boosts add up to at most `MAX_RAISED_BOOST`); `mark_hot` sets the boost to
what the rest of the score lacks to reach hot (70). Neither decays by itself: silence still
grows, so a lead that goes quiet after a trigger cools like any other.

Managers write the rules through `campaigns.trigger_rules` (validated, audited).
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import forget, insert_unless_taken, per_transaction
from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.leads import timeline
from recovery_app.domain.notifications.service import notify_owner
from recovery_app.domain.scoring.schemas import HOT_THRESHOLD
from recovery_app.domain.scoring.service import features_of, model_for, score_lead
from recovery_app.errors import Conflict, NotFound, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    Campaign,
    CampaignStatus,
    Channel,
    Direction,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
    Tenant,
    TriggerFiring,
    TriggerRule,
    pk,
)

EVENTS = ("email_open", "email_click", "reply_keywords", "form_resubmitted", "no_open")
ACTIONS = ("raise_score", "alert_agent", "move_campaign", "pause_nurture", "mark_hot")
# Which rules an activity can set off.
EVENT_OF_ACTIVITY: dict[str, str] = {
    ActivityKind.EMAIL_OPEN: "email_open",
    ActivityKind.EMAIL_CLICK: "email_click",
    ActivityKind.REPLY: "reply_keywords",
    ActivityKind.SMS_IN: "reply_keywords",
    ActivityKind.EMAIL_IN: "reply_keywords",
    ActivityKind.FORM_SUBMITTED: "form_resubmitted",
    ActivityKind.EMAIL_OUT: "no_open",
}
DEFAULT_KEYWORDS = (
    "tour",
    "showing",
    "pre-approved",
    "preapproved",
    "pre-approval",
    "preapproval",
    "offer",
)
ALERT_CHANNELS = ("in_app", "sms", "email")
OPEN_GRACE = timedelta(hours=24)
# The sweep looks at leads whose email passed the grace this recently (downtime included).
NO_OPEN_LOOKBACK = timedelta(days=7)
NO_OPEN_BATCH = 500
MAX_RAISED_BOOST = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOSED = (LeadStatus.CONVERTED, LeadStatus.LOST)
UNREADABLE = (MessageStatus.BOUNCED, MessageStatus.FAILED, MessageStatus.UNDELIVERED)


# ------------------------------------------------------------------ evaluation
def evaluate(
    session: Session,
    lead: Lead,
    activity_kind: str,
    *,
    now: datetime,
    message: Message | None = None,
) -> list[TriggerFiring]:
    """Fire the tenant's enabled rules that `activity_kind` (just recorded for `lead`) sets off;
    the firings this call won. `message` is the reply, for `reply_keywords`."""
    event = EVENT_OF_ACTIVITY.get(str(activity_kind))
    if event is None or lead.status in CLOSED:
        return []
    if event == "form_resubmitted" and lead.submissions < 2:
        return []
    if event == "reply_keywords" and (message is None or not message.body.strip()):
        return []
    if event == "no_open" and lead.created_at > now - OPEN_GRACE:
        # Only emails older than the grace count, and none of a lead this new can be: every
        # first-response email would otherwise cost the rule's window query.
        return []
    rules = enabled_rules(session, lead.tenant_id, event)
    if not rules:
        return []
    fired = []
    session.flush()  # the activity being handled counts
    for rule in rules:
        evidence = _match(session, rule, lead, now=now, message=message)
        if evidence is not None:
            firing = _fire(session, rule, lead, now=now, evidence=evidence)
            if firing is not None:
                fired.append(firing)
    return fired


def enabled_rules(session: Session, tenant_id: int, event: str) -> list[TriggerRule]:
    """The office's enabled rules for `event`, read once a transaction (every message a
    dispatcher batch records asks); trigger_rules forgets them when it changes a rule."""

    def load() -> list[TriggerRule]:
        return list(
            session.execute(
                select(TriggerRule)
                .where(
                    col(TriggerRule.tenant_id) == tenant_id,
                    col(TriggerRule.enabled).is_(True),
                    col(TriggerRule.event) == event,
                )
                .order_by(col(TriggerRule.id))
            ).scalars()
        )

    return per_transaction(session, rules_key(tenant_id, event), load)


def rules_key(tenant_id: int, event: str) -> tuple[str, int, str]:
    return ("trigger_rules", tenant_id, event)


def forget_rules(session: Session, tenant_id: int) -> None:
    """After a rule of the office was created, changed or deleted in this transaction."""
    for event in EVENTS:
        forget(session, rules_key(tenant_id, event))


def evaluate_no_open(session: Session, now: datetime) -> dict[str, int]:
    """The sweep for `no_open` rules: leads whose emails aged past the open grace unopened
    (found with one query per rule) fire now."""
    rules = session.execute(
        select(TriggerRule)
        .where(col(TriggerRule.enabled).is_(True), col(TriggerRule.event) == "no_open")
        .order_by(col(TriggerRule.id))
    ).scalars()
    fired = 0
    for rule in list(rules):
        lead_ids = _unopened_runs(session, rule, now=now)
        if not lead_ids:
            continue
        leads = session.execute(select(Lead).where(col(Lead.id).in_(lead_ids))).scalars()
        for lead in list(leads):
            evidence = {"emails": rule.threshold}
            if _fire(session, rule, lead, now=now, evidence=evidence) is not None:
                fired += 1
    return {"no_open_fired": fired}


def window_start(now: datetime, hours: int) -> datetime:
    """The aligned window `now` falls in: a rule fires once per lead in each."""
    size = hours * 3600
    return EPOCH + timedelta(seconds=int((now - EPOCH).total_seconds() // size) * size)


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str]:
    """Any of `keywords` as a whole word (a trailing plural "s" allowed), case-insensitive."""
    words = sorted({k.strip().lower() for k in keywords if k.strip()} or set(DEFAULT_KEYWORDS))
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})s?(?!\w)", re.IGNORECASE)


def _match(
    session: Session, rule: TriggerRule, lead: Lead, *, now: datetime, message: Message | None
) -> dict[str, Any] | None:
    """What makes `rule` fire for `lead` now (kept on the firing), or None."""
    since = now - timedelta(hours=rule.window_hours)
    if rule.event in ("email_open", "email_click", "form_resubmitted"):
        kind = ActivityKind.FORM_SUBMITTED if rule.event == "form_resubmitted" else rule.event
        clauses = [
            col(Activity.lead_id) == lead.id,
            col(Activity.kind) == kind,
            col(Activity.occurred_at) >= since,
        ]
        if rule.event == "form_resubmitted":
            # The first submission made the lead; only the ones after it are comebacks.
            clauses.append(col(Activity.occurred_at) > lead.created_at)
        count = session.execute(
            select(func.count()).select_from(Activity).where(*clauses)
        ).scalar_one()
        return {"count": int(count)} if count >= rule.threshold else None
    if rule.event == "reply_keywords":
        found = keyword_pattern(rule.keywords or ()).search(message.body if message else "")
        return {"keyword": found.group(0).lower()} if found else None
    if rule.event == "no_open" and _unopened_runs(session, rule, now=now, lead_id=pk(lead)):
        return {"emails": rule.threshold}
    return None


def _unopened_runs(
    session: Session, rule: TriggerRule, *, now: datetime, lead_id: int | None = None
) -> list[int]:
    """Leads of the rule's tenant (or just `lead_id`) where `no_open` holds and has not fired
    since the newest email of the run: one set-based query for the sweep and the send path."""
    cutoff = now - OPEN_GRACE
    emails = (
        col(Message.tenant_id) == rule.tenant_id,
        col(Message.channel) == Channel.EMAIL,
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.lead_id).is_not(None),
        col(Message.sent_at).is_not(None),
    )
    if lead_id is not None:
        scope = col(Message.lead_id) == lead_id
    else:
        recently_aged = select(col(Message.lead_id)).where(
            *emails,
            col(Message.sent_at) > cutoff - NO_OPEN_LOOKBACK,
            col(Message.sent_at) <= cutoff,
        )
        scope = col(Message.lead_id).in_(recently_aged)
    newest_first = (
        func.row_number()
        .over(
            partition_by=col(Message.lead_id),
            order_by=(col(Message.sent_at).desc(), col(Message.id).desc()),
        )
        .label("n")
    )
    aged = (
        select(
            col(Message.lead_id).label("lead_id"),
            col(Message.sent_at).label("sent_at"),
            col(Message.opened_at).label("opened_at"),
            col(Message.clicked_at).label("clicked_at"),
            newest_first,
        )
        .where(
            *emails, scope, col(Message.sent_at) <= cutoff, col(Message.status).not_in(UNREADABLE)
        )
        .subquery()
    )
    runs = (
        select(
            aged.c.lead_id,
            func.min(aged.c.sent_at).label("oldest"),
            func.max(aged.c.sent_at).label("newest"),
        )
        .where(aged.c.n <= rule.threshold)
        .group_by(aged.c.lead_id)
        .having(
            func.count() == rule.threshold,
            func.count(aged.c.opened_at) == 0,
            func.count(aged.c.clicked_at) == 0,
        )
        .subquery()
    )
    opened_since = select(col(Message.id)).where(
        col(Message.lead_id) == runs.c.lead_id,
        col(Message.channel) == Channel.EMAIL,
        col(Message.direction) == Direction.OUTBOUND,
        col(Message.sent_at) >= runs.c.oldest,
        or_(col(Message.opened_at).is_not(None), col(Message.clicked_at).is_not(None)),
    )
    fired_since = select(col(TriggerFiring.id)).where(
        col(TriggerFiring.rule_id) == rule.id,
        col(TriggerFiring.lead_id) == runs.c.lead_id,
        col(TriggerFiring.fired_at) >= runs.c.newest,
    )
    query = (
        select(runs.c.lead_id)
        .join(Lead, col(Lead.id) == runs.c.lead_id)
        .where(col(Lead.status).not_in(CLOSED), ~exists(opened_since), ~exists(fired_since))
        .order_by(runs.c.lead_id)
        .limit(NO_OPEN_BATCH)
    )
    return [int(i) for i in session.execute(query).scalars()]


def _fire(
    session: Session, rule: TriggerRule, lead: Lead, *, now: datetime, evidence: dict[str, Any]
) -> TriggerFiring | None:
    """Claim the rule's window for the lead; the claim's winner acts. None when taken."""
    firing = insert_unless_taken(
        session,
        TriggerFiring(
            tenant_id=lead.tenant_id,
            rule_id=pk(rule),
            lead_id=pk(lead),
            window_start=window_start(now, rule.window_hours),
            fired_at=now,
            data={"event": rule.event, "action": rule.action, **evidence},
        ),
        unique=["rule_id", "lead_id", "window_start"],
    )
    if firing is None:
        return None
    timeline.add_activity(
        session,
        lead,
        ActivityKind.TRIGGER_FIRED,
        now=now,
        data={"rule_id": rule.id, "rule": rule.name, "action": rule.action, **evidence},
    )
    outcome = _ACT[rule.action](session, rule, lead, firing, now)
    firing.data = {**firing.data, "outcome": outcome}
    return firing


# ------------------------------------------------------------------ actions
def _raise_score(
    session: Session, rule: TriggerRule, lead: Lead, _firing: TriggerFiring, now: datetime
) -> dict[str, Any]:
    points = int(rule.params.get("points", 10))
    timeline.bump(session, lead, score_boost=points)  # adds under the row's lock
    before = lead.score_boost - points
    lead.score_boost = max(before, min(lead.score_boost, MAX_RAISED_BOOST))
    return _boosted(session, rule, lead, before, now=now)


def _mark_hot(
    session: Session, rule: TriggerRule, lead: Lead, _firing: TriggerFiring, now: datetime
) -> dict[str, Any]:
    timeline.bump(session, lead, score_boost=0)  # the row's lock: boosts do not cross
    model = model_for(session.get(Tenant, lead.tenant_id))
    unboosted = score_lead(replace(features_of(lead), score_boost=0), now=now, model=model)
    # The factors' sum before the 0..100 clamp: what the boost must make up to reach hot.
    lacking = HOT_THRESHOLD - sum(f.points for f in unboosted.factors)
    before = lead.score_boost
    lead.score_boost = max(before, lacking)
    return _boosted(session, rule, lead, before, now=now)


def _boosted(
    session: Session, rule: TriggerRule, lead: Lead, before: int, *, now: datetime
) -> dict[str, Any]:
    if lead.score_boost != before:
        reasons = [r for r in (lead.score_boost_reason or "").split("; ") if r]
        if rule.name not in reasons:
            reasons.append(rule.name)
        reason = "; ".join(reasons)
        lead.score_boost_reason = (reason if len(reason) <= 120 else rule.name)[:120]
    timeline.rescore(session, lead, now=now)
    return {"points": lead.score_boost - before, "score": lead.score}


def _alert_agent(
    session: Session, rule: TriggerRule, lead: Lead, firing: TriggerFiring, now: datetime
) -> dict[str, Any]:
    name = f"{lead.first_name} {lead.last_name}".strip() or lead.phone or lead.email or "A lead"
    title = f"{name}: {rule.name}"
    body = _describe(firing.data)
    # The bell always has it (an agent without a phone still hears of it); texts go on top.
    told = notify_owner(
        session,
        lead=lead,
        kind="trigger",
        title=title,
        body=body,
        now=now,
        dedupe_key=f"trigger:{firing.id}",
        also=rule.params.get("channels") or ["in_app"],
    )
    if told.agent is None:
        return {"managers": told.managers}
    return {"agent_id": told.agent.id, "channels": told.channels}


def _describe(data: Mapping[str, Any]) -> str:
    if "keyword" in data:
        return f'Their reply mentions "{data["keyword"]}".'
    if "emails" in data:
        return f"No open on the last {data['emails']} emails."
    what = {"email_open": "Opened", "email_click": "Clicked"}.get(data.get("event", ""))
    if what:
        return f"{what} {data.get('count', 1)} email(s) recently."
    return "Submitted a form again."


def _move_campaign(
    session: Session, rule: TriggerRule, lead: Lead, _firing: TriggerFiring, now: datetime
) -> dict[str, Any]:
    campaign = session.get(Campaign, rule.params.get("campaign_id"))
    if (
        campaign is None
        or campaign.tenant_id != lead.tenant_id
        or campaign.archived_at is not None
        or campaign.status not in (CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED)
    ):
        # The campaign ended since the rule was written: the firing says so, nothing breaks.
        return {"skipped": "the campaign is not running"}
    try:
        enrollment = campaigns.enroll_lead(
            session, lead=lead, campaign=campaign, now=now, reason=f"trigger: {rule.name}"
        )
    except (Conflict, NotFound, ValidationFailed) as exc:  # raised before anything is written
        return {"skipped": exc.message}
    return {"campaign_id": campaign.id, "enrollment_id": enrollment.id}


def _pause_nurture(
    session: Session, rule: TriggerRule, lead: Lead, _firing: TriggerFiring, now: datetime
) -> dict[str, Any]:
    reason = f"trigger: {rule.name}"[:64]  # the enrollment's stopped_reason column
    return {"stopped": timeline.stop_enrollments(session, lead, reason=reason, now=now)}


_ACT: dict[str, Callable[[Session, TriggerRule, Lead, TriggerFiring, datetime], dict[str, Any]]] = {
    "raise_score": _raise_score,
    "alert_agent": _alert_agent,
    "move_campaign": _move_campaign,
    "pause_nurture": _pause_nurture,
    "mark_hot": _mark_hot,
}
