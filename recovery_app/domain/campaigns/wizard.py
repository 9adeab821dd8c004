"""The campaign wizard: a draft campaign built in five stages (audience, steps, messages, timing,
review) and saved as the manager moves from one to the next.

The page holds the form as text (what the inputs hold); `WizardDraft` is that form, and this
module turns it into the service's `CampaignIn` / `CampaignPatch`, naming every field it cannot
read (`name`, `audience.min_score`, `steps.1.body`, `send_window.end`, `starts_at`...). A stage
is checked before the wizard moves past it, and each save writes what the stages reached so far
hold, through `service.create_campaign` / `service.update_campaign`: the same rules as the API.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.orm import Session

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.audience import clean_audience
from recovery_app.domain.campaigns.schemas import (
    DEFAULT_SEND_WINDOW,
    CampaignIn,
    CampaignPatch,
    SendWindow,
    StepIn,
)
from recovery_app.domain.ids import is_id
from recovery_app.errors import Conflict, ValidationFailed
from recovery_app.models import Campaign, CampaignGoal, CampaignStatus, Channel, Template, Tenant

STAGES = ("audience", "steps", "messages", "timing", "review")
# Minutes in each unit a step's wait can be given in.
DELAY_UNITS: dict[str, int] = {"minutes": 1, "hours": 60, "days": 24 * 60}
START_MODES = ("now", "later")
MAX_STEPS = 20


@dataclass
class StepDraft:
    channel: str = "sms"
    delay: str = "0"
    delay_unit: str = "days"
    condition: str = ""
    template_id: int | None = None
    subject: str = ""
    body: str = ""
    ai_personalize: bool = False


@dataclass
class WizardDraft:
    """The wizard's form as the page holds it: text where the page has inputs."""

    name: str = ""
    goal: str = str(CampaignGoal.REPLY)
    statuses: list[str] = field(default_factory=list)
    temperatures: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    agent_ids: list[int] = field(default_factory=list)
    tags: str = ""  # comma-separated
    min_score: str = ""
    max_score: str = ""
    silent_for_hours: str = ""
    steps: list[StepDraft] = field(default_factory=list)
    days: list[int] = field(default_factory=lambda: list(DEFAULT_SEND_WINDOW["days"]))
    window_start: str = DEFAULT_SEND_WINDOW["start"]
    window_end: str = DEFAULT_SEND_WINDOW["end"]
    optimize: bool = False
    frequency_cap: str = "3"
    autopilot: bool = True
    always_on: bool = False
    start_mode: str = "now"
    start_date: str = ""  # YYYY-MM-DD in the office's time zone
    start_time: str = "09:00"


def stage_index(stage: str) -> int:
    if stage not in STAGES:
        raise ValidationFailed("Unknown wizard stage.", fields={"stage": ", ".join(STAGES)})
    return STAGES.index(stage)


# Reading the form ------------------------------------------------------------------------------


def _whole(raw: str, key: str, errors: dict[str, str], low: int, high: int) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not is_id(text) or not low <= int(text) <= high:
        errors[key] = f"a whole number from {low} to {high}"
        return None
    return int(text)


def audience_rule(draft: WizardDraft) -> tuple[dict[str, Any], dict[str, str]]:
    """The audience rule the form describes (checked by `clean_audience`), and its errors."""
    errors: dict[str, str] = {}
    rule: dict[str, Any] = {
        "status": list(draft.statuses),
        "temperature": list(draft.temperatures),
        "source": list(draft.sources),
        "assigned_user_id": list(draft.agent_ids),
        "tags": [t.strip() for t in draft.tags.split(",") if t.strip()],
    }
    for key in ("min_score", "max_score"):
        rule[key] = _whole(getattr(draft, key), f"audience.{key}", errors, 0, 100)
    rule["silent_for_hours"] = _whole(
        draft.silent_for_hours, "audience.silent_for_hours", errors, 0, 24 * 366
    )
    try:
        rule = clean_audience({k: v for k, v in rule.items() if v not in (None, [])})
    except ValidationFailed as exc:
        errors.update({k: v for k, v in exc.fields.items() if k not in errors})
    return rule, errors


def step_ins(draft: WizardDraft) -> tuple[list[StepIn], dict[str, str]]:
    """The steps as the service takes them, and what is wrong with their shape (channel, wait,
    condition); their texts are the service's to check (`service.check_steps`)."""
    errors: dict[str, str] = {}
    steps: list[StepIn] = []
    if not draft.steps:
        errors["steps"] = "add at least one step"
    if len(draft.steps) > MAX_STEPS:
        errors["steps"] = f"at most {MAX_STEPS} steps"
    email_before = False
    for index, step in enumerate(draft.steps):
        key = f"steps.{index}"
        if step.channel not in tuple(Channel):
            errors[f"{key}.channel"] = "text or email"
            continue
        unit = DELAY_UNITS.get(step.delay_unit)
        amount = _whole(step.delay or "0", f"{key}.delay", errors, 0, 90 * 24 * 60)
        minutes = (amount or 0) * (unit or 1)
        if unit is None:
            errors[f"{key}.delay"] = "minutes, hours or days"
        elif minutes > 90 * 24 * 60:
            errors[f"{key}.delay"] = "at most 90 days"
        if step.condition and not email_before:
            errors[f"{key}.condition"] = "needs an earlier email step to check"
        email_before = email_before or step.channel == Channel.EMAIL
        try:
            steps.append(
                StepIn(
                    channel=Channel(step.channel),
                    delay_minutes=min(minutes, 90 * 24 * 60),
                    template_id=step.template_id,
                    subject=step.subject.strip() or None,
                    body=step.body.strip() or None,
                    ai_personalize=step.ai_personalize,
                    condition=step.condition or None,
                )
            )
        except ValidationError as exc:
            for problem in exc.errors():
                errors[f"{key}.{problem['loc'][0]}"] = problem["msg"].removeprefix("Value error, ")
    return steps, errors


def send_window(draft: WizardDraft) -> tuple[SendWindow | None, dict[str, str]]:
    try:
        return (
            SendWindow(
                days=draft.days,
                start=draft.window_start.strip(),
                end=draft.window_end.strip(),
                optimize=draft.optimize,
            ),
            {},
        )
    except ValidationError as exc:
        errors = {}
        for problem in exc.errors():
            # The order check is the whole model's; it reads best on the closing time.
            where = str(problem["loc"][0]) if problem["loc"] else "end"
            errors[f"send_window.{where}"] = problem["msg"].removeprefix("Value error, ")
        return None, errors


def starts_at(
    draft: WizardDraft, *, timezone: str, now: datetime
) -> tuple[datetime | None, dict[str, str]]:
    """When the campaign starts: None for "when launched", else the chosen office-local moment
    (which must still be ahead)."""
    if draft.start_mode == "now":
        return None, {}
    if draft.start_mode not in START_MODES:
        return None, {"starts_at": "now or later"}
    try:
        day = date.fromisoformat(draft.start_date.strip())
        clock = time.fromisoformat(draft.start_time.strip() or "09:00")
    except ValueError:
        return None, {"starts_at": "a date and a time, such as 2026-12-01 09:00"}
    moment = datetime.combine(day, clock, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    if moment <= now:
        return None, {"starts_at": "a moment still ahead (or start when launched)"}
    return moment, {}


def _frequency_cap(draft: WizardDraft, errors: dict[str, str]) -> int | None:
    return _whole(draft.frequency_cap or "", "frequency_cap_per_day", errors, 1, 20)


def check(
    session: Session, *, viewer: Viewer, draft: WizardDraft, stage: str, now: datetime
) -> dict[str, str]:
    """What keeps the wizard from moving past `stage` (and the stages before it): field -> why."""
    reached = stage_index(stage)
    errors: dict[str, str] = {}
    if not draft.name.strip():
        errors["name"] = "name the campaign"
    elif len(draft.name.strip()) > 200:
        errors["name"] = "at most 200 characters"
    if draft.goal not in tuple(CampaignGoal):
        errors["goal"] = "reply, appointment or conversion"
    errors |= audience_rule(draft)[1]
    if reached >= 1:
        steps, shape = step_ins(draft)
        errors |= shape
        if not shape:
            try:
                service.check_steps(session, viewer.tenant_id, steps)
            except ValidationFailed as exc:
                errors |= exc.fields
    if reached >= 3:
        errors |= send_window(draft)[1]
        _frequency_cap(draft, errors)
        errors |= starts_at(draft, timezone=office_timezone(session, viewer), now=now)[1]
    return errors


def office_timezone(session: Session, viewer: Viewer) -> str:
    """The office's time zone: the one a chosen start date and time are in."""
    tenant = session.get(Tenant, viewer.tenant_id)
    return tenant.timezone if tenant else "UTC"


# Saving ----------------------------------------------------------------------------------------


def save(
    session: Session,
    *,
    viewer: Viewer,
    campaign_id: int | None,
    draft: WizardDraft,
    stage: str,
    now: datetime,
) -> Campaign:
    """Check the stages up to `stage`, then create the draft campaign (no id yet) or update it
    with what those stages hold. ValidationFailed names every field in the way."""
    require_manager(viewer, "build campaigns")
    errors = check(session, viewer=viewer, draft=draft, stage=stage, now=now)
    if errors:
        raise ValidationFailed(_summary(errors), fields=errors)
    reached = stage_index(stage)
    fields: dict[str, Any] = {
        "name": draft.name.strip(),
        "goal": CampaignGoal(draft.goal),
        "audience": audience_rule(draft)[0],
    }
    if reached >= 1:
        fields["steps"] = step_ins(draft)[0]
    if reached >= 3:
        fields |= {
            "send_window": send_window(draft)[0],
            "frequency_cap_per_day": _frequency_cap(draft, {}),
            "autopilot": draft.autopilot,
            "always_on": draft.always_on,
            "starts_at": starts_at(draft, timezone=office_timezone(session, viewer), now=now)[0],
        }
    if campaign_id is None:
        return service.create_campaign(session, viewer=viewer, data=CampaignIn(**fields), now=now)
    campaign = service.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(
            f"The campaign is {campaign.status}; only a draft changes in the wizard. "
            "Duplicate it to change a copy."
        )
    return service.update_campaign(
        session, viewer=viewer, campaign_id=campaign_id, changes=CampaignPatch(**fields), now=now
    )


def _summary(errors: dict[str, str]) -> str:
    count = len(errors)
    return f"Fix the {count} highlighted field{'s' if count != 1 else ''} to go on."


def launch(
    session: Session, *, viewer: Viewer, campaign_id: int, draft: WizardDraft, now: datetime
) -> tuple[Campaign, int]:
    """Save the whole draft, then launch it through the engine (`service.launch`): every lead
    of the audience is enrolled once, now or at the chosen start. Returns (campaign, enrolled)."""
    campaign = save(
        session, viewer=viewer, campaign_id=campaign_id, draft=draft, stage="review", now=now
    )
    enrolled = service.launch(session, viewer=viewer, campaign_id=campaign_id, now=now)
    return campaign, enrolled


# Reading a saved campaign back -----------------------------------------------------------------


def _delay_parts(minutes: int) -> tuple[str, str]:
    for unit in ("days", "hours"):
        size = DELAY_UNITS[unit]
        if minutes and minutes % size == 0:
            return str(minutes // size), unit
    return (str(minutes), "minutes") if minutes else ("0", "days")


def load(session: Session, *, viewer: Viewer, campaign_id: int) -> WizardDraft:
    """The draft campaign as the wizard's form (steps that use a template show its text)."""
    require_manager(viewer, "build campaigns")
    campaign = service.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(
            f"The campaign is {campaign.status}; only a draft opens in the wizard. "
            "Duplicate it to change a copy."
        )
    steps = service.steps_of(session, campaign_id)
    template_ids = {s.template_id for s in steps if s.template_id}
    templates = {t.id: t for t in (session.get(Template, i) for i in template_ids) if t}
    rule = campaign.audience or {}
    window = {**DEFAULT_SEND_WINDOW, **(campaign.send_window or {})}
    timezone = office_timezone(session, viewer)
    start_local = campaign.starts_at.astimezone(ZoneInfo(timezone)) if campaign.starts_at else None
    drafts = []
    for step in steps:
        template = templates.get(step.template_id) if step.template_id else None
        amount, unit = _delay_parts(step.delay_minutes)
        drafts.append(
            StepDraft(
                channel=str(step.channel),
                delay=amount,
                delay_unit=unit,
                condition=step.condition or "",
                template_id=step.template_id,
                subject=step.subject or (template.subject if template else None) or "",
                body=step.body or (template.body if template else ""),
                ai_personalize=step.ai_personalize,
            )
        )

    def number(key: str) -> str:
        return "" if rule.get(key) is None else str(rule[key])

    return WizardDraft(
        name=campaign.name,
        goal=str(campaign.goal),
        statuses=list(rule.get("status", [])),
        temperatures=list(rule.get("temperature", [])),
        sources=list(rule.get("source", [])),
        agent_ids=[int(i) for i in rule.get("assigned_user_id", [])],
        tags=", ".join(rule.get("tags", [])),
        min_score=number("min_score"),
        max_score=number("max_score"),
        silent_for_hours=number("silent_for_hours"),
        steps=drafts,
        days=[int(d) for d in window["days"]],
        window_start=str(window["start"]),
        window_end=str(window["end"]),
        optimize=bool(window.get("optimize")),
        frequency_cap=str(campaign.frequency_cap_per_day),
        autopilot=campaign.autopilot,
        always_on=campaign.always_on,
        start_mode="later" if start_local else "now",
        start_date=start_local.date().isoformat() if start_local else "",
        start_time=f"{start_local:%H:%M}" if start_local else "09:00",
    )


# The list's other actions ----------------------------------------------------------------------


def duplicate(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> Campaign:
    """A new draft with the campaign's audience, steps and timing (no start date): the way to
    change a campaign that already ran."""
    require_manager(viewer, "duplicate campaigns")
    original = service.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    steps = [
        StepIn(
            channel=Channel(s.channel),
            delay_minutes=s.delay_minutes,
            template_id=s.template_id,
            subject=s.subject,
            body=s.body,
            ai_personalize=s.ai_personalize,
            condition=s.condition,
        )
        for s in service.steps_of(session, campaign_id)
    ]
    suffix = " (copy)"
    data = CampaignIn(
        name=original.name[: 200 - len(suffix)] + suffix,
        goal=original.goal,
        audience=original.audience or {},
        steps=steps,
        send_window=SendWindow(**{**DEFAULT_SEND_WINDOW, **(original.send_window or {})}),
        always_on=original.always_on,
        autopilot=original.autopilot,
        frequency_cap_per_day=original.frequency_cap_per_day,
    )
    return service.create_campaign(session, viewer=viewer, data=data, now=now)


def unschedule(session: Session, *, viewer: Viewer, campaign_id: int, now: datetime) -> Campaign:
    """A scheduled campaign goes back to draft (nobody was enrolled yet), to be changed in the
    wizard and launched again."""
    require_manager(viewer, "unschedule campaigns")
    campaign = service.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.SCHEDULED:
        raise Conflict(f"The campaign is {campaign.status}; only a scheduled one can go back.")
    before = {"status": str(campaign.status)}
    campaign.status = CampaignStatus.DRAFT
    campaign.updated_at = now
    audit.record(
        session,
        action="campaign.unscheduled",
        entity_type="campaign",
        entity_id=campaign.id,
        tenant_id=campaign.tenant_id,
        actor=viewer,
        before=before,
        after={"status": str(campaign.status)},
    )
    return campaign
