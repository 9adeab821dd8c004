"""What the wizard shows while a campaign is being written: who the audience rule picks (a live
count and five of them), the template library, a real lead's values for the live preview, the
SMS segment counter with the opt-out and unsubscribe checks, and "draft with AI" for one step
(the engine's own Drafter: without ANTHROPIC_API_KEY it keeps the template and says so)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns import audience
from recovery_app.domain.campaigns.library import ensure_builtin_templates
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.campaigns.wizard import WizardDraft, audience_rule
from recovery_app.domain.leads import service as leads
from recovery_app.domain.leads.first_response import variables
from recovery_app.domain.leads.handling import LONG_SAMPLE
from recovery_app.domain.leads.repository import USER_NAME
from recovery_app.domain.leads.schemas import LeadFilterOptions
from recovery_app.errors import ValidationFailed
from recovery_app.messaging import drafting
from recovery_app.messaging.draft_checks import OPT_OUT, fair_housing_hits
from recovery_app.messaging.segments import SegmentCount, count_segments
from recovery_app.models import Channel, Template, Tenant, User

SAMPLE_SIZE = 5
# What the preview fills in before the audience has a lead to show: long values, so the
# segment counter errs on the side of more segments.
EXAMPLE_VALUES: dict[str, str | None] = dict(LONG_SAMPLE)


@dataclass(frozen=True, slots=True)
class SampleLead:
    id: int
    first_name: str
    last_name: str
    status: str
    temperature: str
    score: int
    source: str
    agent: str | None
    last_outbound_at: datetime | None


@dataclass(frozen=True, slots=True)
class AudiencePreview:
    count: int
    sample: list[SampleLead]


def preview_audience(
    session: Session, *, viewer: Viewer, draft: WizardDraft, now: datetime
) -> AudiencePreview:
    """How many of the office's leads the draft's rule matches now, and the top five by score.
    ValidationFailed (naming the field) for a rule that cannot be read."""
    require_manager(viewer, "build campaign audiences")
    rule, errors = audience_rule(draft)
    if errors:
        raise ValidationFailed("Check the audience rule.", fields=errors)
    count = audience.count_matching(session, rule, tenant_id=viewer.tenant_id, now=now)
    found = audience.sample_matching(
        session, rule, tenant_id=viewer.tenant_id, now=now, limit=SAMPLE_SIZE
    )
    agent_ids = {lead.assigned_user_id for lead in found if lead.assigned_user_id}
    names: dict[int, str] = (
        dict(
            session.execute(
                select(col(User.id), USER_NAME).where(
                    col(User.id).in_(agent_ids), col(User.tenant_id) == viewer.tenant_id
                )
            ).all()
        )
        if agent_ids
        else {}
    )
    return AudiencePreview(
        count=count,
        sample=[
            SampleLead(
                id=int(lead.id),  # type: ignore[arg-type]
                first_name=lead.first_name,
                last_name=lead.last_name,
                status=str(lead.status),
                temperature=str(lead.temperature),
                score=lead.score,
                source=lead.source,
                agent=names.get(lead.assigned_user_id) if lead.assigned_user_id else None,
                last_outbound_at=lead.last_outbound_at,
            )
            for lead in found
        ],
    )


def audience_options(session: Session, *, viewer: Viewer) -> LeadFilterOptions:
    """The sources in use and the office's people, for the rule builder's choices."""
    require_manager(viewer, "build campaign audiences")
    return leads.lead_filter_options(session, viewer=viewer)


def library(session: Session, *, viewer: Viewer) -> list[Template]:
    """The built-in templates and the office's own, texts first, built-ins before own."""
    require_manager(viewer, "build campaigns")
    ensure_builtin_templates(session)
    query = (
        select(Template)
        .where(or_(col(Template.tenant_id).is_(None), col(Template.tenant_id) == viewer.tenant_id))
        .order_by(
            col(Template.channel).desc(),  # "sms" before "email"
            col(Template.is_builtin).desc(),
            col(Template.name),
        )
    )
    return list(session.execute(query).scalars())


# Which built-in situation a new step starts from: the first step of a channel checks in, the
# later ones ask whether to keep going.
FIRST_SITUATION, LATER_SITUATION = "silent_7d", "reactivation_30d"


def starting_template(
    templates: list[Template], channel: Channel | str, earlier_of_channel: int
) -> Template | None:
    """The library template a newly added step starts with (the manager changes it later)."""
    situation = FIRST_SITUATION if earlier_of_channel == 0 else LATER_SITUATION
    same = [t for t in templates if t.channel == channel]
    return next((t for t in same if t.situation == situation), same[0] if same else None)


def lead_values(session: Session, *, viewer: Viewer, lead_id: int) -> dict[str, str | None]:
    """The variables of one lead the viewer may see, as a campaign step would fill them in."""
    require_manager(viewer, "build campaigns")
    lead = leads.get_lead(session, viewer=viewer, lead_id=lead_id)
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    return variables(session, lead, tenant)


@dataclass(frozen=True, slots=True)
class TextCheck:
    """One step's text as a lead would get it, and what the counter and checks say."""

    subject: str
    body: str
    segments: SegmentCount | None  # texts only
    has_opt_out: bool  # texts: "Reply STOP" or alike is in the step's own words
    fair_housing: list[str]


def check_text(
    channel: Channel | str, subject: str, body: str, values: dict[str, str | None]
) -> TextCheck:
    """Render the step for `values` and count it; pure, so the page can do it per keystroke."""
    rendered_body = render(body, values)
    is_sms = channel == Channel.SMS
    return TextCheck(
        subject="" if is_sms else render(subject, values),
        body=rendered_body,
        segments=count_segments(rendered_body) if is_sms else None,
        has_opt_out=bool(OPT_OUT.search(body)) if is_sms else True,
        fair_housing=fair_housing_hits(f"{subject}\n{body}"),
    )


def _segment_context(draft: WizardDraft, tenant: Tenant) -> dict[str, str]:
    """What the AI may know when writing one step for the whole audience (no lead's own data)."""

    def listed(values: list[str]) -> str:
        return ", ".join(values) if values else "any"

    return {
        "lead_status": listed(draft.statuses),
        "temperature": listed(draft.temperatures),
        "source": listed(draft.sources),
        "company_name": tenant.sender_name or tenant.name,
        "tenant_voice": str((tenant.preferences or {}).get("voice") or "warm, brief, professional"),
        "campaign": draft.name.strip(),
    }


def draft_with_ai(
    session: Session,
    *,
    viewer: Viewer,
    draft: WizardDraft,
    index: int,
    now: datetime,
    drafter: drafting.Drafter | None = None,
) -> drafting.Draft:
    """A fresh draft of step `index` written by the AI from the step's current text, with its
    `{{variables}}` kept; the step's own text back (drafted_by "template", `note` saying why)
    when AI is off, failing or its answer fails the checks."""
    require_manager(viewer, "draft campaign messages")
    if not 0 <= index < len(draft.steps):
        raise ValidationFailed("No such step.", fields={"step": "pick a step of the campaign"})
    step = draft.steps[index]
    if step.channel not in tuple(Channel):
        raise ValidationFailed("Pick text or email first.", fields={f"steps.{index}.channel": ""})
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    request = drafting.DraftRequest(
        tenant_id=viewer.tenant_id,
        channel=Channel(step.channel),
        # One-off: the key only has to be unique (the AI call's tokens and cost are kept on it).
        cache_key=f"wizard:{uuid.uuid4().hex}",
        campaign_step_id=None,
        situation=f"step {index + 1} of {len(draft.steps)} of a recovery campaign",
        goal=draft.goal,
        template_subject=step.subject.strip() or None,
        template_body=step.body.strip(),
        context=_segment_context(draft, tenant),
        require_opt_out=step.channel == Channel.SMS,
        reuse=False,
    )
    return (drafter or drafting.get_drafter()).draft(session, request, now=now)
