"""The wizard's review before launch: who would be enrolled and who each channel can reach, the
sends per day the steps and the window make of that, what it would cost, and what the
compliance guard will do to it (opt-out wording, unsubscribe footer, consent, quiet hours).

Counting is SQL over the audience rule (one aggregate, one GROUP BY); the day-by-day plan walks
the steps (at most 20), not the leads: every enrollable lead starts together at the start.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.office import prices_of
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns import audience, send_time
from recovery_app.domain.campaigns.composing import EXAMPLE_VALUES, check_text
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.campaigns.windows import DAY_NAMES, SendWindow, next_opening
from recovery_app.domain.campaigns.wizard import (
    StepDraft,
    WizardDraft,
    audience_rule,
    check,
    send_window,
    starts_at,
    step_ins,
)
from recovery_app.domain.compliance import state_rules
from recovery_app.domain.compliance.quiet_hours import effective_window
from recovery_app.domain.leads.first_response import variables
from recovery_app.domain.leads.handling import MAX_SMS_SEGMENTS
from recovery_app.errors import ValidationFailed
from recovery_app.messaging import drafting
from recovery_app.messaging.segments import count_segments
from recovery_app.models import AiDraft, Channel, Enrollment, EnrollmentStatus, Lead, Tenant

# Anthropic's rule of thumb for English: about four characters a token. Used only until the
# office has AI drafts of its own, whose recorded token counts replace it.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Reach:
    matching: int  # leads the rule matches now
    elsewhere: int  # of those, in another active campaign: launch leaves them where they are
    sms_reachable: int  # enrollable, with a number, not opted out of texts
    sms_consented: int  # ... and with SMS consent on record (the guard blocks the others)
    email_reachable: int
    email_consented: int
    segments: int  # temperature x source groups: an AI step drafts once for each

    @property
    def enrollable(self) -> int:
        return self.matching - self.elsewhere


def reach(
    session: Session,
    *,
    tenant_id: int,
    rule: dict[str, Any],
    campaign_id: int | None,
    now: datetime,
) -> Reach:
    clauses = audience.audience_clauses(session, rule, tenant_id=tenant_id, now=now)
    other = select(col(Enrollment.id)).where(
        col(Enrollment.lead_id) == col(Lead.id),
        col(Enrollment.status) == EnrollmentStatus.ACTIVE,
    )
    if campaign_id is not None:
        other = other.where(col(Enrollment.campaign_id) != campaign_id)
    busy = exists(other.correlate(Lead))
    texts = and_(~busy, col(Lead.phone).is_not(None), col(Lead.opted_out_sms).is_(False))
    emails = and_(~busy, col(Lead.email).is_not(None), col(Lead.opted_out_email).is_(False))

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(),
            count_if(busy),
            count_if(texts),
            count_if(and_(texts, col(Lead.consent_sms).is_(True))),
            count_if(emails),
            count_if(and_(emails, col(Lead.consent_email).is_(True))),
        ).where(*clauses)
    ).one()
    groups = (
        select(col(Lead.temperature), col(Lead.source))
        .where(*clauses, ~busy)
        .group_by(col(Lead.temperature), col(Lead.source))
        .subquery()
    )
    segments = session.execute(select(func.count()).select_from(groups)).scalar_one()
    matching, elsewhere, sms, sms_ok, email, email_ok = (int(n) for n in row)
    return Reach(matching, elsewhere, sms, sms_ok, email, email_ok, segments=int(segments))


@dataclass(frozen=True, slots=True)
class DaySends:
    day: date  # in the office's time zone
    sms: int
    email: int


def plan_days(
    steps: list[StepDraft],
    delays: list[int],
    *,
    sends: list[int],
    window_of: Callable[[str], SendWindow],
    start: datetime,
    timezone: str,
    cap: int,
) -> list[DaySends]:
    """Sends per office-local day if every enrollable lead went through every step together:
    each step waits its delay after the previous one, then for its window to open, and a day
    that already has `cap` steps pushes the next to the following day (the guard holds a
    lead's messages past the cap for 24 h). `sends[i]`: how many leads step i reaches."""
    zones = (timezone,)
    zone = ZoneInfo(timezone)
    moment = start
    on_day: Counter[date] = Counter()
    totals: dict[date, list[int]] = {}
    for index, (step, delay) in enumerate(zip(steps, delays, strict=True)):
        window = window_of(step.channel)
        moment = next_opening(moment + timedelta(minutes=delay), zones, window)
        day = moment.astimezone(zone).date()
        while on_day[day] >= cap:
            midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
            moment = next_opening(midnight.astimezone(UTC), zones, window)
            day = moment.astimezone(zone).date()
        on_day[day] += 1
        bucket = totals.setdefault(day, [0, 0])
        bucket[0 if step.channel == Channel.SMS else 1] += sends[index]
    return [DaySends(day, sms, email) for day, (sms, email) in sorted(totals.items())]


@dataclass(frozen=True, slots=True)
class CostEstimate:
    sms_messages: int
    sms_segments: int
    sms_usd: float
    emails: int
    email_usd: float
    ai_calls: int
    ai_usd: float
    ai_enabled: bool

    @property
    def total_usd(self) -> float:
        return self.sms_usd + self.email_usd + self.ai_usd


def _token_history(session: Session, tenant_id: int) -> tuple[float, float] | None:
    """The office's average input and output tokens per AI draft, when it has any."""
    row = session.execute(
        select(func.count(), func.avg(AiDraft.input_tokens), func.avg(AiDraft.output_tokens)).where(
            col(AiDraft.tenant_id) == tenant_id
        )
    ).one()
    return (float(row[1]), float(row[2])) if row[0] else None


def _ai_call_usd(
    step: StepDraft, draft: WizardDraft, history: tuple[float, float] | None, model: str
) -> float:
    if history is not None:
        tokens_in, tokens_out = history
    else:
        request = drafting.DraftRequest(
            tenant_id=0,
            channel=Channel(step.channel),
            cache_key="estimate",
            campaign_step_id=None,
            situation="campaign step",
            goal=draft.goal,
            template_subject=step.subject or None,
            template_body=step.body,
            context={"campaign": draft.name, "temperature": "warm", "source": "web_form"},
        )
        prompt = drafting.SYSTEM_PROMPT + drafting.user_prompt(request)
        answer = json.dumps({"subject": step.subject or None, "body": step.body})
        tokens_in, tokens_out = len(prompt) / CHARS_PER_TOKEN, len(answer) / CHARS_PER_TOKEN
    return drafting.cost_microdollars(model, round(tokens_in), round(tokens_out)) / 1_000_000


def estimate_cost(
    session: Session,
    *,
    tenant: Tenant,
    draft: WizardDraft,
    sends: list[int],
    segments_of_step: list[int],
    ai_groups: int,
    drafter: drafting.Drafter,
) -> CostEstimate:
    """Segments x the SMS price + emails x the email price (the office's prices) + one AI draft
    per AI step and audience group, priced from the office's past drafts (or the prompt's size)."""
    prices = prices_of(tenant)
    sms_messages = sms_segments = emails = 0
    ai_usd, ai_calls = 0.0, 0
    history = _token_history(session, int(tenant.id)) if drafter.enabled else None  # type: ignore[arg-type]
    for step, count, segments in zip(draft.steps, sends, segments_of_step, strict=True):
        if step.channel == Channel.SMS:
            sms_messages += count
            sms_segments += count * segments
        else:
            emails += count
        if step.ai_personalize and drafter.enabled and count:
            ai_calls += ai_groups
            ai_usd += ai_groups * _ai_call_usd(step, draft, history, drafter.model)
    return CostEstimate(
        sms_messages=sms_messages,
        sms_segments=sms_segments,
        sms_usd=sms_segments * prices["sms_segment_usd"],
        emails=emails,
        email_usd=emails * prices["email_usd"],
        ai_calls=ai_calls,
        ai_usd=ai_usd,
        ai_enabled=drafter.enabled,
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the compliance check: "block" (the engine will not send it), "warn" (it goes
    out, but look first) or "note" (how the engine will handle it)."""

    level: str
    text: str


def _window_label(window: SendWindow) -> str:
    return f"{window.start:%H:%M}-{window.end:%H:%M}"


def findings(
    *,
    draft: WizardDraft,
    tenant: Tenant,
    reach: Reach,
    sms_window: SendWindow,
    suggested: dict[str, bool],
    drafter: drafting.Drafter,
) -> list[Finding]:
    """What the guard and the engine will do to this campaign, worst first."""
    found: list[Finding] = []
    sms_steps = [i for i, s in enumerate(draft.steps) if s.channel == Channel.SMS]
    email_steps = [i for i, s in enumerate(draft.steps) if s.channel == Channel.EMAIL]

    def steps_label(indexes: list[int]) -> str:
        return ", ".join(str(i + 1) for i in indexes)

    if reach.matching == 0:
        later = " Always-on enrolls leads as they come to match." if draft.always_on else ""
        found.append(Finding("warn", "No lead matches the audience now." + later))
    if reach.elsewhere:
        found.append(
            Finding(
                "warn",
                f"{reach.elsewhere:,} matching leads are in another active campaign: launch "
                "leaves them there (one nurture at a time).",
            )
        )
    if email_steps and not tenant.postal_address:
        found.append(
            Finding(
                "block",
                "Marketing email must carry the office's postal address and there is none: "
                "every email step is blocked until it is set (Settings -> Office).",
            )
        )
    no_opt_out = [
        i for i in sms_steps if not check_text(Channel.SMS, "", draft.steps[i].body, {}).has_opt_out
    ]
    if no_opt_out:
        found.append(
            Finding(
                "warn",
                f'Text step {steps_label(no_opt_out)} has no opt-out wording (such as "Reply '
                'STOP to opt out."): the guard adds it only to the first text a lead ever gets.',
            )
        )
    found.extend(
        Finding("warn", f'Step {i + 1} says "{phrase}": a Fair Housing risk; reword it.')
        for i, step in enumerate(draft.steps)
        for phrase in check_text(step.channel, step.subject, step.body, {}).fair_housing
    )
    if sms_steps and reach.sms_reachable > reach.sms_consented:
        missing = reach.sms_reachable - reach.sms_consented
        found.append(
            Finding(
                "block",
                f"{missing:,} of {reach.sms_reachable:,} leads with a number have no SMS consent "
                "on record: their texts are blocked.",
            )
        )
    if email_steps and reach.email_reachable > reach.email_consented:
        missing = reach.email_reachable - reach.email_consented
        found.append(
            Finding(
                "block",
                f"{missing:,} of {reach.email_reachable:,} leads with an address have no email "
                "consent on record: their emails are blocked.",
            )
        )
    if sms_steps:
        allowed = effective_window(
            tenant_quiet_start=tenant.quiet_hours_start, tenant_quiet_end=tenant.quiet_hours_end
        )
        if sms_window.start < allowed.start or sms_window.end > allowed.end:
            found.append(
                Finding(
                    "warn",
                    f"The text window {_window_label(sms_window)} runs into quiet hours: texts "
                    f"go out only {allowed.label()} in the lead's time, the rest wait.",
                )
            )
        for state, rule in sorted(state_rules.rules().items()):
            start, end = rule.window or (allowed.start, allowed.end)
            limits = []
            if sms_window.start < start or sms_window.end > end:
                limits.append(f"only {start:%H:%M}-{end:%H:%M}")
            if rule.sunday is not None:
                limits.append(f"Sundays {rule.sunday[0]:%H:%M}-{rule.sunday[1]:%H:%M}")
            if rule.no_sundays or rule.no_holidays:
                days = " or ".join(
                    n
                    for n, on in (("Sundays", rule.no_sundays), ("holidays", rule.no_holidays))
                    if on
                )
                limits.append(f"never on {days}")
            if rule.max_marketing_per_24h is not None:
                limits.append(f"at most {rule.max_marketing_per_24h} in 24 h")
            if limits:
                found.append(
                    Finding("note", f"Leads in {state} get texts {', '.join(limits)} (state law).")
                )
    if email_steps:
        found.append(
            Finding(
                "note",
                "Every email gets a one-click unsubscribe link and the office's postal address "
                "in its footer.",
            )
        )
    ai_steps = [i for i, s in enumerate(draft.steps) if s.ai_personalize]
    if ai_steps and not drafter.enabled:
        found.append(
            Finding(
                "note",
                f"AI is off (no ANTHROPIC_API_KEY): step {steps_label(ai_steps)} sends its "
                "template text.",
            )
        )
    if not draft.autopilot and not ai_steps:
        found.append(
            Finding(
                "note",
                "Review mode holds AI-written messages for approval; with no AI step every "
                "message goes out as written.",
            )
        )
    if draft.optimize and not any(suggested.values()):
        found.append(
            Finding(
                "note",
                "Not enough reply history to suggest a send window yet: the chosen window is "
                "used until there is.",
            )
        )
    order = {"block": 0, "warn": 1, "note": 2}
    return sorted(found, key=lambda f: order[f.level])


@dataclass(frozen=True, slots=True)
class Review:
    reach: Reach
    start: datetime
    windows: dict[str, tuple[str, bool]]  # channel -> (label, suggested)
    days: list[DaySends]
    sends_per_step: list[int]
    cost: CostEstimate
    findings: list[Finding]


def review(
    session: Session,
    *,
    viewer: Viewer,
    campaign_id: int | None,
    draft: WizardDraft,
    now: datetime,
    drafter: drafting.Drafter | None = None,
) -> Review:
    """Everything the review stage shows for the draft (ValidationFailed while a stage before
    it still has errors)."""
    require_manager(viewer, "review campaigns")
    errors = check(session, viewer=viewer, draft=draft, stage="timing", now=now)
    if errors:
        raise ValidationFailed("Fix the earlier steps first.", fields=errors)
    drafter = drafter or drafting.get_drafter()
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    rule = audience_rule(draft)[0]
    steps = step_ins(draft)[0]
    config = send_window(draft)[0]
    assert config is not None
    start = starts_at(draft, timezone=tenant.timezone, now=now)[0] or now
    found = reach(session, tenant_id=viewer.tenant_id, rule=rule, campaign_id=campaign_id, now=now)

    windows: dict[str, tuple[SendWindow, bool]] = {}
    for channel in {s.channel for s in draft.steps}:
        suggestion = (
            send_time.suggested_window(
                session, tenant_id=viewer.tenant_id, channel=channel, now=now
            )
            if config.optimize
            else None
        )
        windows[channel] = (
            (send_time.as_send_window(suggestion), True)
            if suggestion is not None
            else (SendWindow.of(config.model_dump()), False)
        )

    def reached_by(step: StepDraft) -> int:
        if step.channel == Channel.SMS:
            return found.sms_consented
        # Without the office's postal address the guard blocks every marketing email.
        return found.email_consented if tenant.postal_address else 0

    sends = [reached_by(s) for s in draft.steps]
    days = plan_days(
        draft.steps,
        [s.delay_minutes for s in steps],
        sends=sends,
        window_of=lambda channel: windows[channel][0],
        start=start,
        timezone=tenant.timezone,
        cap=int(draft.frequency_cap),
    )
    values = _sample_values(session, tenant, rule, now)
    segments_of_step = [_segments(s, values, ai=drafter.enabled) for s in draft.steps]
    cost = estimate_cost(
        session,
        tenant=tenant,
        draft=draft,
        sends=sends,
        segments_of_step=segments_of_step,
        ai_groups=found.segments,
        drafter=drafter,
    )
    sms_window = windows.get(str(Channel.SMS), (SendWindow.of(config.model_dump()), False))[0]
    return Review(
        reach=found,
        start=start,
        windows={c: (_describe(w), s) for c, (w, s) in windows.items()},
        days=days,
        sends_per_step=sends,
        cost=cost,
        findings=findings(
            draft=draft,
            tenant=tenant,
            reach=found,
            sms_window=sms_window,
            suggested={c: s for c, (_, s) in windows.items()},
            drafter=drafter,
        ),
    )


def _segments(step: StepDraft, values: list[dict[str, str | None]], *, ai: bool) -> int:
    """Segments one text of the step costs: the most any sample lead's values make of it; an
    AI-written text is held to MAX_SMS_SEGMENTS whatever the template's length."""
    if step.channel != Channel.SMS:
        return 0
    if step.ai_personalize and ai:
        return MAX_SMS_SEGMENTS
    return max(count_segments(render(step.body, v)).segments for v in values)


def _describe(window: SendWindow) -> str:
    """ "Mon-Fri 09:00-17:00", "Tue, Thu 17:00-19:00": runs of three days or more collapse."""
    runs: list[list[int]] = []
    for day in sorted(window.days):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in run)
    return f"{', '.join(parts)} {_window_label(window)}"


def _sample_values(
    session: Session, tenant: Tenant, rule: dict[str, Any], now: datetime
) -> list[dict[str, str | None]]:
    """The variables of the audience's top five leads (long example values without any), so a
    text's segment count is what real names make of it."""
    sample = audience.sample_matching(session, rule, tenant_id=int(tenant.id), now=now)  # type: ignore[arg-type]
    return [variables(session, lead, tenant) for lead in sample] or [EXAMPLE_VALUES]
