"""Lead intake: one path for web forms, GoHighLevel, CSV imports and texts from new numbers.

Validate, normalise (E.164 phones in the tenant's region, lower-cased valid emails), find the
person (same phone or same email in the tenant) and merge into them or create them, score,
route to an agent and queue the instant first response. The database's unique (tenant, phone)
and (tenant, email) constraints are what guarantee one lead per person: two workers creating
the same person at once make one of them fail, and `run_intake` retries it as a merge.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.audit import service as audit
from recovery_app.domain.compliance.suppression import suppressed_channels
from recovery_app.domain.leads import timeline
from recovery_app.errors import StorageUnavailable, ValidationFailed
from recovery_app.models import ActivityKind, Channel, Lead, LeadStatus, Temperature, Tenant, pk
from recovery_app.observability import metrics

MAX_EXTRA_KEYS = 50
MAX_EXTRA_VALUE = 1000
SOURCE_PATTERN = re.compile(r"[^a-z0-9_]+")
RESERVED = {
    "location_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "source",
    "message",
    "timezone",
    "consent",
    "external_id",
    "value",
}


class Consent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sms: bool = False
    email: bool = False


class IntakePayload(BaseModel):
    """The body of POST /api/v1/webhooks/leads (extra keys are kept on the lead)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    location_id: str | None = Field(default=None, max_length=64)
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    source: str = Field(default="web_form", max_length=40)
    message: str | None = Field(default=None, max_length=5000)
    timezone: str | None = Field(default=None, max_length=64)
    consent: Consent = Field(default_factory=Consent)
    external_id: str | None = Field(default=None, max_length=128)
    value: float | None = Field(default=None, ge=0, le=1_000_000_000)

    @field_validator(
        "first_name", "last_name", "message", "email", "phone", "external_id", mode="before"
    )
    @classmethod
    def _text(cls, value: Any) -> Any:
        # Numbers for names or phones are a form builder's habit, not a mistake; objects are.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@dataclass(frozen=True, slots=True)
class Person:
    """A validated, normalised submission."""

    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    source: str
    message: str | None
    timezone: str | None
    consent_sms: bool
    consent_email: bool
    external_id: str | None
    value_cents: int | None
    attributes: dict[str, Any]


def parse_payload(data: Any) -> IntakePayload:
    """The payload, or ValidationFailed naming every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("Expected a JSON object.", fields={"body": "a JSON object"})
    try:
        return IntakePayload.model_validate(data)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": str(e["msg"]) for e in exc.errors()}
        raise ValidationFailed("Some fields are invalid.", fields=fields) from None


def _clean_text(value: str) -> str:
    """Strip control characters (but keep newlines and every script's letters)."""
    return "".join(ch for ch in value if ch in "\n\t" or ch.isprintable()).strip()


def phone_e164(number: str, *, region: str) -> str | None:
    """`number` in E.164 (read in `region` when it has no country code), None if invalid:
    how every lead's phone is stored, so lookups by phone normalise the same way."""
    try:
        parsed = phonenumbers.parse(number, region or "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize(payload: IntakePayload, *, region: str) -> Person:
    problems: dict[str, str] = {}
    phone = None
    if payload.phone:
        phone = phone_e164(payload.phone, region=region)
        if phone is None:
            problems["phone"] = (
                f"not a valid phone number (read with default region {region or 'US'})"
            )
    email = None
    if payload.email:
        try:
            email = validate_email(payload.email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            problems["email"] = str(exc)
    if not payload.phone and not payload.email:
        problems["phone"] = problems["email"] = "send a phone or an email (or both)"
    timezone = payload.timezone or None
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems["timezone"] = "an IANA time zone such as America/Chicago"
    extras = payload.extras()
    if len(extras) > MAX_EXTRA_KEYS:
        problems["body"] = f"at most {MAX_EXTRA_KEYS} extra keys"
    attributes: dict[str, Any] = {}
    for key, value in list(extras.items())[:MAX_EXTRA_KEYS]:
        if isinstance(value, dict | list):
            problems[key] = "extra keys hold text, numbers or true/false, not objects or lists"
        elif isinstance(value, str) and len(value) > MAX_EXTRA_VALUE:
            problems[key] = f"at most {MAX_EXTRA_VALUE} characters"
        elif len(key) > 64:
            problems["body"] = "extra key names are at most 64 characters"
        else:
            attributes[key] = _clean_text(value) if isinstance(value, str) else value
    source = SOURCE_PATTERN.sub("_", payload.source.lower()).strip("_") or "web_form"
    if problems:
        raise ValidationFailed("Some fields are invalid.", fields=problems)
    return Person(
        first_name=_clean_text(payload.first_name).title()
        if payload.first_name.islower()
        else _clean_text(payload.first_name),
        last_name=_clean_text(payload.last_name).title()
        if payload.last_name.islower()
        else _clean_text(payload.last_name),
        email=email,
        phone=phone,
        source=source[:40],
        message=_clean_text(payload.message) if payload.message else None,
        timezone=timezone,
        consent_sms=payload.consent.sms,
        consent_email=payload.consent.email,
        external_id=payload.external_id or None,
        value_cents=round(payload.value * 100) if payload.value is not None else None,
        attributes=attributes,
    )


@dataclass(frozen=True, slots=True)
class IntakeResult:
    lead_id: int
    created: bool
    score: int
    temperature: str
    assigned_user_id: int | None
    # Queued for enrichment: the lead webhook tries it at once (2 s at most), else the job.
    enrichment_pending: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "created": self.created,
            "score": self.score,
            "temperature": self.temperature,
        }


def find_person(
    session: Session, *, tenant_id: int, phone: str | None, email: str | None
) -> list[Lead]:
    """Leads of the tenant with this phone or this email (phone match first)."""
    clauses = []
    if phone:
        clauses.append(col(Lead.phone) == phone)
    if email:
        clauses.append(col(Lead.email) == email)
    if not clauses:
        return []
    rows = (
        session.execute(select(Lead).where(col(Lead.tenant_id) == tenant_id, or_(*clauses)))
        .scalars()
        .all()
    )
    return sorted(rows, key=lambda lead: (lead.phone != phone, lead.id))


def _evidence(person: Person, via: str, at: datetime, ip: str | None) -> dict[str, Any]:
    return {
        "source": via,
        "form_source": person.source,
        "sms": person.consent_sms,
        "email": person.consent_email,
        "at": at.isoformat(),
        **({"ip": ip} if ip else {}),
    }


def intake(
    session: Session,
    *,
    tenant: Tenant,
    person: Person,
    received_at: datetime,
    via: str,
    respond: bool = True,
    ip: str | None = None,
    crm_contact_id: str | None = None,
) -> IntakeResult:
    """Create or merge one person into the tenant's leads (the caller commits; an IntegrityError
    means another transaction created the same person first: retry, and it merges)."""
    from recovery_app.domain.alerts import service as alerts
    from recovery_app.domain.campaigns import triggers
    from recovery_app.domain.enrichment import service as enrichment
    from recovery_app.domain.leads.first_response import queue_first_response
    from recovery_app.domain.routing import service as routing

    tenant_id = pk(tenant)
    matches = find_person(session, tenant_id=tenant_id, phone=person.phone, email=person.email)
    created = not matches
    actor = f"intake:{via}"
    if created:
        lead = Lead(
            tenant_id=tenant_id,
            first_name=person.first_name,
            last_name=person.last_name,
            email=person.email,
            phone=person.phone,
            source=person.source,
            message=person.message,
            timezone=person.timezone,
            external_id=person.external_id,
            crm_contact_id=crm_contact_id,
            attributes=person.attributes,
            est_value_cents=person.value_cents,
            consent_sms=person.consent_sms,
            consent_email=person.consent_email,
            consent_evidence=_evidence(person, via, received_at, ip)
            if person.consent_sms or person.consent_email
            else {},
            status=LeadStatus.NEW,
            created_at=received_at,
            updated_at=received_at,
            last_activity_at=received_at,
        )
        session.add(lead)
        session.flush()  # the unique constraints speak here
        if person.consent_sms or person.consent_email:
            audit.record(
                session,
                action="lead.consent_recorded",
                entity_type="lead",
                entity_id=lead.id,
                tenant_id=tenant_id,
                actor_label=actor,
                after=lead.consent_evidence,
            )
    else:
        lead = matches[0]
        timeline.bump(session, lead, submissions=1)  # locks the row: merges of one person queue up
        _merge(
            session,
            lead,
            person,
            others=matches[1:],
            received_at=received_at,
            via=via,
            ip=ip,
            crm_contact_id=crm_contact_id,
        )
    # Anyone erased or hard-bounced before stays unreachable, whatever the form says now.
    reachable = {
        channel: address
        for channel, address, flag in (
            (Channel.SMS, lead.phone, lead.opted_out_sms),
            (Channel.EMAIL, lead.email, lead.opted_out_email),
        )
        if address and not flag
    }
    with session.no_autoflush:
        suppressed = suppressed_channels(session, tenant_id=tenant_id, addresses=reachable)
    for channel in (Channel.SMS, Channel.EMAIL):
        if channel in suppressed:
            timeline.opt_out(
                session,
                lead,
                channel,
                reason="on the suppression list",
                now=received_at,
                actor_label=actor,
            )
    timeline.add_activity(
        session,
        lead,
        ActivityKind.FORM_SUBMITTED,
        now=received_at,
        data={
            "source": person.source,
            "via": via,
            "message": person.message,
            "external_id": person.external_id,
            "merged": not created,
        },
    )
    # A cached enrichment answer counts in this very score; otherwise the lead is queued and
    # rescored when Apollo answers (never waited for here).
    enrichment.on_intake(session, lead, now=received_at)
    timeline.rescore(session, lead, now=received_at)
    agent = None
    if lead.assigned_user_id is None and lead.status not in (LeadStatus.CONVERTED, LeadStatus.LOST):
        agent = routing.route(session, lead=lead, tenant=tenant, now=received_at)
    elif not created and lead.assigned_user_id is not None:
        routing.tell_agent_lead_returned(session, lead=lead, now=received_at)
    if not created:
        # Behavioral triggers (form_resubmitted), after routing so an alert finds the agent.
        triggers.evaluate(session, lead, ActivityKind.FORM_SUBMITTED, now=received_at)
    if respond and created:
        queue_first_response(session, lead=lead, tenant=tenant, now=received_at, agent=agent)
    if created and lead.temperature == Temperature.HOT:
        # A queued row, posted by the slack_alerts job: Slack being slow or down never
        # holds up intake.
        alerts.hot_new_lead(session, lead=lead, agent=agent, now=received_at)
    result = "created" if created else "merged"
    source = metrics.source_label(person.source)
    metrics.after_commit(session, lambda: metrics.INTAKE.labels(via, source, result).inc())
    return IntakeResult(
        pk(lead),
        created,
        lead.score,
        str(lead.temperature),
        lead.assigned_user_id,
        enrichment_pending=lead.enrichment_status == "pending",
    )


def _merge(
    session: Session,
    lead: Lead,
    person: Person,
    *,
    others: list[Lead],
    received_at: datetime,
    via: str,
    ip: str | None,
    crm_contact_id: str | None,
) -> None:
    """Fold a new submission into an existing lead: fill what is missing, never overwrite what a
    person or an opt-out established, keep the consent history."""
    taken = {o.email for o in others} | {o.phone for o in others}
    for name in ("first_name", "last_name", "message", "timezone", "external_id"):
        if not getattr(lead, name) and getattr(person, name):
            setattr(lead, name, getattr(person, name))
    if not lead.email and person.email and person.email not in taken:
        lead.email = person.email
    if not lead.phone and person.phone and person.phone not in taken:
        lead.phone = person.phone
    if crm_contact_id and not lead.crm_contact_id:
        lead.crm_contact_id = crm_contact_id
    if person.message and person.message != lead.message:
        lead.message = person.message  # the latest inquiry is what the agent should read first
    if person.value_cents and not lead.est_value_cents:
        lead.est_value_cents = person.value_cents
    lead.attributes = {**(lead.attributes or {}), **person.attributes}
    before = {"consent_sms": lead.consent_sms, "consent_email": lead.consent_email}
    if person.consent_sms and not lead.consent_sms:
        lead.consent_sms = True
    if person.consent_email and not lead.consent_email:
        lead.consent_email = True
    after = {"consent_sms": lead.consent_sms, "consent_email": lead.consent_email}
    if after != before:
        history = list((lead.consent_evidence or {}).get("history", []))
        if lead.consent_evidence and "history" not in lead.consent_evidence:
            history.append({k: v for k, v in lead.consent_evidence.items() if k != "history"})
        evidence = _evidence(person, via, received_at, ip)
        lead.consent_evidence = {**evidence, "history": [*history, evidence]}
        audit.record(
            session,
            action="lead.consent_changed",
            entity_type="lead",
            entity_id=lead.id,
            tenant_id=lead.tenant_id,
            actor_label=f"intake:{via}",
            before=before,
            after=after | {"evidence": evidence},
        )
    lead.last_inbound_at = received_at  # coming back is an answer: it ends a silence
    if lead.status == LeadStatus.LOST:
        timeline.set_status(
            session, lead, LeadStatus.ENGAGED, now=received_at, reason="Came back after being lost"
        )
    elif lead.status == LeadStatus.SILENT:
        timeline.set_status(
            session, lead, LeadStatus.ENGAGED, now=received_at, reason="Submitted again"
        )
    if others:
        timeline.add_activity(
            session,
            lead,
            ActivityKind.NOTE,
            now=received_at,
            data={
                "note": f"Submission also matched lead(s) {', '.join(str(o.id) for o in others)}"
            },
        )


def run_intake(work: Callable[[], IntakeResult], *, attempts: int = 4) -> IntakeResult:
    """Run one intake transaction, retrying when a concurrent one created the same person
    (IntegrityError) or SQLite was busy; the retry finds the person and merges."""
    for attempt in range(attempts):
        try:
            return work()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
        except OperationalError as exc:
            if attempt == attempts - 1:
                raise StorageUnavailable("The database is busy; try again shortly.") from exc
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
