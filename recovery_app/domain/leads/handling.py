"""How an office handles new leads, as its managers configure it (Settings -> Lead handling):
routing mode and claim window, when hot leads escalate, how agents are alerted, the
first-response templates per source, and the scoring weights. Every change is audited."""

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.campaigns.rendering import FALLBACKS, render, variables_in
from recovery_app.domain.leads.first_response import situation_for, template_for
from recovery_app.domain.scoring.schemas import (
    DEFAULT_SOURCE_QUALITY,
    DEFAULT_WEIGHTS,
    FEATURES,
    ScoringModel,
)
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.messaging.segments import sms_segments
from recovery_app.models import Channel, Template, Tenant

ROUTING_MODES = ("round_robin", "first_to_claim")
# Sources a first-response template can be specific to (anything else uses the default one).
SOURCES = ("web_form", "portal", "ghl", "open_house", "referral")
MAX_SMS_SEGMENTS = 2
MAX_WEIGHT = 100.0
# Long but real values, so a template that fits with them fits for nearly every lead.
LONG_SAMPLE = {
    "first_name": "Alexandria",
    "last_name": "Montgomery-Whitfield",
    "agent_name": "Christopher Vanderberg",
    "agent_first_name": "Christopher",
    "company_name": "Harborview Realty Group",
    "property_interest": "4-bed homes in Westlake Hills",
    "city": "San Antonio",
    "open_house_address": "1234 Mockingbird Lane",
    "price_drop_amount": "$15,000",
    "booking_link": "https://calendly.com/christopher-vanderberg/30-minute-consultation",
}


@dataclass(frozen=True, slots=True)
class Routing:
    routing_mode: str = "round_robin"
    claim_window_minutes: int = 5
    escalate_after_hours: int = 24
    notify_agents_sms: bool = False
    notify_agents_email: bool = False


@dataclass(frozen=True, slots=True)
class FirstResponse:
    """What a lead from `source` (None: the office default) gets first on `channel`, and where
    that text comes from: the office's own template for it, the office default, or the library."""

    source: str | None
    channel: Channel
    subject: str | None
    body: str
    origin: str  # "own", "default" or "library"


@dataclass(frozen=True, slots=True)
class Weights:
    weights: dict[str, float]
    source_quality: dict[str, float]
    calibration: dict[str, Any] | None = None
    defaults: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


def _tenant(session: Session, viewer: Viewer) -> Tenant:
    tenant = session.get(Tenant, viewer.tenant_id)
    if tenant is None:
        raise NotFound("No such office.")
    return tenant


def _audit(session: Session, viewer: Viewer, tenant: Tenant, action: str, before, after) -> None:
    audit.record(
        session,
        action=action,
        entity_type="tenant",
        entity_id=tenant.id,
        tenant_id=tenant.id,
        actor=viewer,
        before=before,
        after=after,
    )


# ---------------------------------------------------------------------------- routing
def routing(session: Session, *, viewer: Viewer) -> Routing:
    require_manager(viewer, "see lead handling settings")
    tenant = _tenant(session, viewer)
    # Each field is the tenant column of the same name.
    return Routing(**{f.name: getattr(tenant, f.name) for f in fields(Routing)})


def update_routing(session: Session, *, viewer: Viewer, changes: Routing) -> Routing:
    require_manager(viewer, "change lead handling")
    errors: dict[str, str] = {}
    if changes.routing_mode not in ROUTING_MODES:
        errors["routing_mode"] = "round_robin or first_to_claim"
    if not 1 <= changes.claim_window_minutes <= 1440:
        errors["claim_window_minutes"] = "between 1 and 1,440 minutes"
    if not 1 <= changes.escalate_after_hours <= 720:
        errors["escalate_after_hours"] = "between 1 and 720 hours"
    if errors:
        raise ValidationFailed("Check the highlighted settings.", fields=errors)
    before = routing(session, viewer=viewer)
    if before == changes:
        return changes
    tenant = _tenant(session, viewer)
    old, new = asdict(before), asdict(changes)
    for name, value in new.items():
        setattr(tenant, name, value)
    changed = [k for k in new if old[k] != new[k]]
    _audit(
        session,
        viewer,
        tenant,
        "tenant.routing_changed",
        {k: old[k] for k in changed},
        {k: new[k] for k in changed},
    )
    return changes


# ----------------------------------------------------------------------- first response
def first_response(
    session: Session, *, viewer: Viewer, source: str | None, channel: Channel
) -> FirstResponse:
    """The template in effect, in the order intake uses (first_response.template_for)."""
    require_manager(viewer, "see first-response templates")
    if source is not None and source not in SOURCES:
        raise ValidationFailed("Unknown source.", fields={"source": ", ".join(SOURCES)})
    tenant = _tenant(session, viewer)
    # No source: the office default, else the library's general template.
    template = template_for(session, tenant=tenant, source=source or "", channel=channel)
    if template.tenant_id is None:
        origin = "library"
    else:
        origin = "own" if template.situation == situation_for(source) else "default"
    return FirstResponse(source, channel, template.subject, template.body, origin)


def _own(session: Session, tenant: Tenant, source: str | None, channel: Channel) -> Template | None:
    return session.execute(
        select(Template).where(
            col(Template.tenant_id) == tenant.id,
            col(Template.channel) == channel,
            col(Template.situation) == situation_for(source),
        )
    ).scalar_one_or_none()


def check_template(channel: Channel, subject: str | None, body: str) -> dict[str, str]:
    """Field errors for a first-response template (empty when it can be saved)."""
    errors: dict[str, str] = {}
    body = body.strip()
    if not body:
        errors["body"] = "write the message"
    unknown = sorted({v for v in variables_in(f"{subject or ''} {body}") if v not in FALLBACKS})
    if unknown:
        errors["body"] = "unknown variable(s): " + ", ".join("{{" + v + "}}" for v in unknown)
    if channel == Channel.SMS:
        segments = sms_segments(render(body, LONG_SAMPLE))
        if body and segments > MAX_SMS_SEGMENTS and "body" not in errors:
            errors["body"] = (
                f"{segments} SMS segments with long names filled in; keep it to "
                f"{MAX_SMS_SEGMENTS} (about 300 characters, or 130 with emoji or accents)"
            )
    elif not (subject or "").strip():
        errors["subject"] = "an email needs a subject"
    elif len(subject or "") > 255:
        errors["subject"] = "at most 255 characters"
    return errors


def save_first_response(
    session: Session,
    *,
    viewer: Viewer,
    source: str | None,
    channel: Channel,
    subject: str | None,
    body: str,
    now: datetime,
) -> Template:
    """Create or replace the office's template for `source` (None: every source) and channel."""
    require_manager(viewer, "change first-response templates")
    if source is not None and source not in SOURCES:
        raise ValidationFailed("Unknown source.", fields={"source": ", ".join(SOURCES)})
    errors = check_template(channel, subject, body)
    if errors:
        raise ValidationFailed("The template cannot be saved.", fields=errors)
    tenant = _tenant(session, viewer)
    template = _own(session, tenant, source, channel)
    before = {"subject": template.subject, "body": template.body} if template else None
    if template is None:
        template = Template(
            tenant_id=tenant.id,
            channel=channel,
            situation=situation_for(source),
            name=f"First response ({source or 'all sources'}, {channel})",
            body="",
        )
        session.add(template)
    template.subject = (subject or "").strip() or None if channel == Channel.EMAIL else None
    template.body = body.strip()
    template.updated_at = now
    session.flush()
    _audit(
        session,
        viewer,
        tenant,
        "tenant.first_response_saved",
        before,
        {"source": source, "channel": str(channel), "subject": template.subject},
    )
    return template


def reset_first_response(
    session: Session, *, viewer: Viewer, source: str | None, channel: Channel
) -> None:
    """Drop the office's own template: the source falls back to the default, or the library."""
    require_manager(viewer, "change first-response templates")
    tenant = _tenant(session, viewer)
    template = _own(session, tenant, source, channel)
    if template is None:
        return
    _audit(
        session,
        viewer,
        tenant,
        "tenant.first_response_reset",
        {"source": source, "channel": str(channel), "body": template.body},
        None,
    )
    session.delete(template)


# ---------------------------------------------------------------------------- scoring
def weights(session: Session, *, viewer: Viewer) -> Weights:
    require_manager(viewer, "see scoring weights")
    tenant = _tenant(session, viewer)
    model = ScoringModel.from_config(tenant.scoring)
    return Weights(
        dict(model.weights),
        dict(model.source_quality),
        (tenant.scoring or {}).get("calibration"),
    )


def set_weights(
    session: Session,
    *,
    viewer: Viewer,
    weights: dict[str, float] | None,
    source_quality: dict[str, float] | None,
    now: datetime,
) -> int:
    """Store the office's weights (None: back to the defaults) and rescore its open leads now,
    so every score on screen uses them; returns how many scores changed."""
    from recovery_app.domain.scoring.jobs import rescore_tenant

    require_manager(viewer, "change scoring weights")
    errors: dict[str, str] = {}
    for name, value in (weights or {}).items():
        if name not in FEATURES:
            errors[name] = "not a scoring factor"
        elif not -MAX_WEIGHT <= value <= MAX_WEIGHT:
            errors[name] = f"between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g} points"
    for source, value in (source_quality or {}).items():
        if not source.strip() or len(source) > 64:
            errors[f"source_quality.{source}"] = "a source name"
        elif not 0 <= value <= 1:
            errors[f"source_quality.{source}"] = "between 0 and 1"
    if errors:
        raise ValidationFailed("Check the highlighted weights.", fields=errors)
    tenant = _tenant(session, viewer)
    scoring = dict(tenant.scoring or {})
    before = {k: scoring.get(k) for k in ("weights", "source_quality", "bias")}
    if weights is None:
        scoring.pop("weights", None)
        scoring.pop("bias", None)  # a calibrated bias belongs to calibrated weights
    else:
        scoring["weights"] = {k: round(float(v), 2) for k, v in weights.items()}
    if source_quality is None:
        scoring.pop("source_quality", None)
    else:
        scoring["source_quality"] = {
            k.strip(): round(float(v), 3)
            for k, v in source_quality.items()
            if DEFAULT_SOURCE_QUALITY.get(k.strip()) != round(float(v), 3)
        }
    scoring["set_by"] = {"user_id": viewer.user_id, "at": now.isoformat()}
    tenant.scoring = scoring
    _audit(
        session,
        viewer,
        tenant,
        "scoring.weights_changed",
        before,
        {k: scoring.get(k) for k in ("weights", "source_quality", "bias")},
    )
    session.flush()
    return rescore_tenant(session, tenant, now=now)
