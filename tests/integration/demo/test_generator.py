from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from recovery_app.demo.generator import database_is_empty, seed_demo
from recovery_app.domain.analytics import roi
from recovery_app.domain.scoring.service import temperature_for
from recovery_app.errors import Conflict
from recovery_app.models import (
    Activity,
    Campaign,
    Conversion,
    ConversionCredit,
    Direction,
    Enrollment,
    Lead,
    LeadStatus,
    Message,
    Role,
    Tenant,
    User,
)

NOW = datetime(2026, 11, 1, 18, 30, tzinfo=UTC)


def _seed(session: Session, leads: int = 400, seed: int = 11):
    return seed_demo(
        session, leads=leads, seed=seed, now=NOW, password_factory=lambda: "demo-password-1"
    )


def _snapshot(session: Session) -> dict[str, list[tuple]]:
    """Every generated row, minus database ids and password hashes (argon2 salts are random)."""
    leads = session.execute(
        select(
            Lead.first_name,
            Lead.last_name,
            Lead.email,
            Lead.phone,
            Lead.status,
            Lead.score,
            Lead.created_at,
            Lead.last_activity_at,
        ).order_by(Lead.id)
    ).all()
    messages = session.execute(
        select(Message.idempotency_key, Message.body, Message.status, Message.created_at).order_by(
            Message.id
        )
    ).all()
    users = session.execute(select(User.email, User.role, User.capacity).order_by(User.id)).all()
    return {"leads": leads, "messages": messages, "users": users}


def test_same_seed_same_data(session: Session) -> None:
    result = _seed(session, leads=150, seed=3)
    first = _snapshot(session)
    assert result.counts["leads"] == 150
    session.rollback()
    # A second run on the emptied database yields the same rows.
    _seed(session, leads=150, seed=3)
    assert _snapshot(session) == first


def test_different_seed_different_data(session: Session) -> None:
    _seed(session, leads=50, seed=1)
    first = _snapshot(session)["leads"]
    session.rollback()
    _seed(session, leads=50, seed=2)
    assert _snapshot(session)["leads"] != first


def test_builds_one_brokerage_with_two_offices(session: Session) -> None:
    result = _seed(session)
    tenants = session.execute(select(Tenant)).scalars().all()
    assert len(tenants) == 2 and all(t.is_demo for t in tenants)
    roles = session.execute(select(User.role, func.count()).group_by(User.role)).all()
    assert dict(roles) == {Role.AGENT: 12, Role.MANAGER: 2}
    assert len(result.credentials) == 14
    assert {c.password for c in result.credentials} == {"demo-password-1"}
    assert session.execute(select(func.count()).select_from(Lead)).scalar_one() == 400


def test_leads_are_realistic(session: Session) -> None:
    _seed(session)
    leads = session.execute(select(Lead)).scalars().all()
    for lead in leads:
        assert lead.email or lead.phone
        if lead.phone:
            assert phonenumbers.is_valid_number(phonenumbers.parse(lead.phone))
            assert (
                phonenumbers.format_number(
                    phonenumbers.parse(lead.phone), phonenumbers.PhoneNumberFormat.E164
                )
                == lead.phone
            )
        if lead.email:
            assert lead.email == lead.email.lower()
            assert lead.email.rsplit("@")[1] in {"example.com", "example.net", "example.org"}
        assert 0 <= lead.score <= 100
        assert lead.temperature == temperature_for(lead.score)
        assert max(0, min(100, sum(f["points"] for f in lead.score_factors))) == lead.score
        assert NOW - timedelta(days=121) <= lead.created_at <= NOW
        assert lead.created_at <= lead.last_activity_at <= NOW
    zones = {lead.timezone for lead in leads if lead.timezone}
    # Leads come from all four mainland time zones.
    assert {"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"} <= zones
    sources = {lead.source for lead in leads}
    assert sources == {"web_form", "portal", "ghl", "open_house", "referral"}
    statuses = {lead.status for lead in leads}
    assert {
        LeadStatus.SILENT,
        LeadStatus.ENGAGED,
        LeadStatus.RECOVERED,
        LeadStatus.CONVERTED,
        LeadStatus.LOST,
    } <= statuses
    silent_share = sum(lead.status == LeadStatus.SILENT for lead in leads) / len(leads)
    assert 0.2 < silent_share < 0.6


def test_conversations_are_consistent(session: Session) -> None:
    _seed(session)
    for lead in session.execute(select(Lead).where(Lead.status == LeadStatus.SILENT)).scalars():
        inbound = session.execute(
            select(func.max(Message.created_at)).where(
                Message.lead_id == lead.id, Message.direction == Direction.INBOUND
            )
        ).scalar_one()
        # Silent: we wrote, and they have not written back since (a STOP reply is not an answer).
        assert lead.last_outbound_at is not None
        assert inbound is None or lead.opted_out_sms or inbound < lead.last_outbound_at
    converted = (
        session.execute(select(Lead).where(Lead.status == LeadStatus.CONVERTED)).scalars().all()
    )
    conversions = session.execute(select(Conversion)).scalars().all()
    assert {c.lead_id for c in conversions} == {lead.id for lead in converted}
    assert all(c.value_cents > 0 and c.closed_at <= NOW for c in conversions)
    recovered = (
        session.execute(select(Lead.id).where(Lead.status == LeadStatus.RECOVERED)).scalars().all()
    )
    stopped = (
        session.execute(select(Enrollment.lead_id).where(Enrollment.stopped_reason == "replied"))
        .scalars()
        .all()
    )
    assert set(recovered) <= set(stopped)


def test_first_sms_carries_opt_out_language_and_keys_are_unique(session: Session) -> None:
    _seed(session)
    first_sms = session.execute(
        select(Message.lead_id, func.min(Message.id))
        .where(Message.channel == "sms", Message.direction == Direction.OUTBOUND)
        .group_by(Message.lead_id)
    ).all()
    bodies = {
        m.id: m.body
        for m in session.execute(
            select(Message).where(Message.id.in_([i for _, i in first_sms]))
        ).scalars()
    }
    assert bodies and all("STOP" in body for body in bodies.values())
    keys = session.execute(select(func.count(Message.idempotency_key.distinct()))).scalar_one()
    assert keys == session.execute(select(func.count()).select_from(Message)).scalar_one()


def test_campaigns_activities_and_timeline(session: Session) -> None:
    _seed(session)
    campaigns = session.execute(
        select(Campaign.status, func.count()).group_by(Campaign.status)
    ).all()
    assert dict(campaigns) == {"active": 6, "draft": 2}
    assert session.execute(select(func.count()).select_from(Enrollment)).scalar_one() > 0
    kinds = set(session.execute(select(Activity.kind).distinct()).scalars())
    assert {
        "form_submitted",
        "sms_out",
        "sms_in",
        "email_out",
        "status_changed",
        "assigned",
        "enrolled",
        "converted",
    } <= kinds


def test_refuses_to_seed_twice(session: Session) -> None:
    assert database_is_empty(session)
    _seed(session, leads=20)
    assert not database_is_empty(session)
    with pytest.raises(Conflict, match="already exists"):
        _seed(session, leads=20)


def test_the_attribution_table_follows_the_bulk_writes(session: Session) -> None:
    """The seed writes messages and deals in bulk; the triggers' credits equal the rule's."""
    _seed(session)
    ever = (NOW - timedelta(days=800), NOW + timedelta(days=1))
    for tenant in session.execute(select(Tenant)).scalars():
        window = tenant.attribution_window_days
        for model in roi.MODELS:
            stored = roi.stored_credits(
                session, tenant_id=tenant.id, start=ever[0], end=ever[1], model=model
            )
            direct = roi.credits(
                session,
                tenant_id=tenant.id,
                start=ever[0],
                end=ever[1],
                window_days=window,
                model=model,
            )
            assert sorted(session.execute(select(stored)).all()) == sorted(
                session.execute(select(direct)).all()
            )
    assert session.execute(select(func.count()).select_from(ConversionCredit)).scalar_one() > 0
