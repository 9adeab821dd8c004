import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.compliance.suppression import address_hash, is_suppressed
from recovery_app.domain.leads import privacy
from recovery_app.errors import Forbidden, NotFound
from recovery_app.models import (
    Activity,
    AuditLog,
    Campaign,
    Channel,
    Conversion,
    Direction,
    Enrollment,
    Message,
    Role,
    Suppression,
    WebhookEvent,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, viewer_for


@pytest.fixture
def case(session):
    tenant = make_tenant(session)
    manager = make_user(session, tenant, role=Role.MANAGER)
    agent = make_user(session, tenant, role=Role.AGENT)
    lead = make_lead(
        session,
        tenant,
        first_name="Maria",
        last_name="Lopez",
        email="maria@example.com",
        phone="+15125550101",
        message="Call me at home",
        attributes={"budget": "500k"},
        consent_sms=True,
        consent_evidence={"ip": "198.51.100.7"},
        assigned_user_id=agent.id,
    )
    message = Message(
        tenant_id=tenant.id,
        lead_id=lead.id,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        body="Hi it's Maria, my address is 1 Elm St",
        idempotency_key="in:1",
        to_address="+15125550100",
        from_address="+15125550101",
    )
    session.add(message)
    session.flush()
    session.add(
        Activity(
            tenant_id=tenant.id,
            lead_id=lead.id,
            kind="sms_in",
            message_id=message.id,
            data={"text": "Hi it's Maria"},
        )
    )
    campaign = Campaign(tenant_id=tenant.id, name="C")
    session.add(campaign)
    session.flush()
    session.add(
        Enrollment(tenant_id=tenant.id, lead_id=lead.id, campaign_id=campaign.id, next_run_at=NOW)
    )
    session.add(
        Conversion(
            tenant_id=tenant.id,
            lead_id=lead.id,
            value_cents=900_000,
            closed_at=NOW,
            note="Maria bought",
        )
    )
    session.add(
        WebhookEvent(
            provider="leads",
            event_id="e1",
            tenant_id=tenant.id,
            raw_body='{"email": "maria@example.com"}',
        )
    )
    session.add(
        AuditLog(
            tenant_id=tenant.id,
            action="lead.consent_changed",
            entity_type="lead",
            entity_id=str(lead.id),
            before={"consent_sms": False},
            after={"text": "Maria agreed"},
        )
    )
    session.flush()
    return tenant, manager, agent, lead


def test_export_holds_everything_and_is_audited(session, case) -> None:
    _, manager, _, lead = case
    data = privacy.export_lead(session, viewer=viewer_for(manager), lead_id=lead.id)
    json.dumps(data)  # JSON-ready
    assert data["lead"]["email"] == "maria@example.com"
    assert data["messages"][0]["body"].startswith("Hi it's Maria")
    assert data["activities"] and data["enrollments"] and data["conversions"] and data["audit_log"]
    assert session.execute(select(AuditLog).where(AuditLog.action == "lead.exported")).scalar_one()


def test_erase_removes_personal_data_and_keeps_a_hashed_suppression(session, case) -> None:
    tenant, manager, _, lead = case
    privacy.erase_lead(
        session, viewer=viewer_for(manager), lead_id=lead.id, now=NOW + timedelta(minutes=1)
    )
    session.expire_all()
    dump = json.dumps(
        privacy.export_lead(session, viewer=viewer_for(manager), lead_id=lead.id)
    ).lower()
    for secret in ("maria", "lopez", "5550101", "elm st", "198.51.100.7", "500k", "call me"):
        assert secret not in dump, secret
    raw = session.execute(select(WebhookEvent.raw_body)).scalar_one()
    assert "maria" not in raw
    assert is_suppressed(
        session, tenant_id=tenant.id, channel=Channel.EMAIL, address="Maria@Example.com"
    )
    assert is_suppressed(session, tenant_id=tenant.id, channel=Channel.SMS, address="+15125550101")
    hashes = set(session.execute(select(Suppression.value_hash)).scalars())
    assert hashes == {
        address_hash(Channel.EMAIL, "maria@example.com"),
        address_hash(Channel.SMS, "+15125550101"),
    }
    assert session.execute(select(Enrollment.status)).scalar_one() == "stopped"
    assert (
        session.execute(select(Conversion.value_cents)).scalar_one() == 900_000
    )  # revenue stays true
    assert session.execute(select(AuditLog).where(AuditLog.action == "lead.erased")).scalar_one()


def test_only_the_tenants_managers_export_or_erase(session, case) -> None:
    _, _, agent, lead = case
    outsider = make_user(session, make_tenant(session), role=Role.MANAGER)
    with pytest.raises(Forbidden):
        privacy.export_lead(session, viewer=viewer_for(agent), lead_id=lead.id)
    with pytest.raises(Forbidden):
        privacy.erase_lead(session, viewer=viewer_for(agent), lead_id=lead.id, now=NOW)
    with pytest.raises(NotFound):
        privacy.erase_lead(session, viewer=viewer_for(outsider), lead_id=lead.id, now=NOW)
    assert lead.email == "maria@example.com"
