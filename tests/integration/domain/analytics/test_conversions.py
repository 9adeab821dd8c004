"""Recording a closed deal: the lead converts, nurture stops, the timeline and the audit log
say so, the last recovery message in the window gets the last-touch credit, and only those who
may see the lead can close it."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.analytics.conversions import record_conversion
from recovery_app.errors import Conflict, NotFound, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    AuditLog,
    Campaign,
    Channel,
    Direction,
    Enrollment,
    EnrollmentStatus,
    LeadStatus,
    Message,
    MessageCategory,
    Role,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for


def test_an_agent_closes_their_lead_and_the_last_recovery_text_gets_the_credit(session) -> None:
    tenant = make_tenant(session, attribution_window_days=30)
    agent = make_user(session, tenant, role=Role.AGENT)
    lead = make_lead(session, tenant, assigned_user_id=agent.id, status=LeadStatus.RECOVERED)
    campaign = Campaign(tenant_id=tenant.id, name="Win back")
    session.add(campaign)
    session.flush()
    enrollment = Enrollment(tenant_id=tenant.id, lead_id=lead.id, campaign_id=campaign.id)
    session.add(enrollment)
    for days, category, key in (
        (40, MessageCategory.MARKETING, "old"),
        (6, MessageCategory.MARKETING, "credited"),
        (1, MessageCategory.CONVERSATIONAL, "chat"),
    ):
        session.add(
            Message(
                tenant_id=tenant.id,
                lead_id=lead.id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                category=category,
                campaign_id=campaign.id,
                body="hi",
                idempotency_key=f"conv:{key}",
                sent_at=NOW - timedelta(days=days),
            )
        )
    session.flush()
    credited = session.execute(
        select(Message).where(Message.idempotency_key == "conv:credited")
    ).scalar_one()

    deal = record_conversion(
        session,
        viewer=viewer_for(agent),
        lead_id=lead.id,
        value_cents=425_000_00,
        closed_at=NOW - timedelta(hours=2),
        note="Closed on the Elm St house",
        now=NOW,
    )
    assert (deal.attributed_message_id, deal.attributed_campaign_id) == (credited.id, campaign.id)
    assert deal.attributed_channel == Channel.SMS
    session.flush()
    session.refresh(lead)
    session.refresh(enrollment)
    assert lead.status == LeadStatus.CONVERTED
    assert lead.converted_at == NOW - timedelta(hours=2)
    assert enrollment.status == EnrollmentStatus.STOPPED
    kinds = session.execute(
        select(Activity.kind).where(Activity.lead_id == lead.id).order_by(Activity.id)
    ).scalars()
    assert list(kinds)[-2:] == [ActivityKind.STATUS_CHANGED, ActivityKind.CONVERTED]
    audit = session.execute(
        select(AuditLog).where(AuditLog.action == "lead.converted")
    ).scalar_one()
    assert audit.after["value_cents"] == 425_000_00

    with pytest.raises(Conflict):
        record_conversion(
            session,
            viewer=manager_of(tenant),
            lead_id=lead.id,
            value_cents=1,
            closed_at=NOW,
            now=NOW,
        )


def test_no_credit_without_a_recovery_message_and_checks_on_input(session) -> None:
    tenant = make_tenant(session)
    lead = make_lead(session, tenant)
    manager = manager_of(tenant)
    for value, closed_at in ((-1, NOW), (100, NOW + timedelta(days=1))):
        with pytest.raises(ValidationFailed):
            record_conversion(
                session,
                viewer=manager,
                lead_id=lead.id,
                value_cents=value,
                closed_at=closed_at,
                now=NOW,
            )
    deal = record_conversion(
        session, viewer=manager, lead_id=lead.id, value_cents=90_000, closed_at=NOW, now=NOW
    )
    assert deal.attributed_message_id is None and deal.attributed_campaign_id is None


def test_an_agent_cannot_close_another_agents_lead_or_another_office_s(session) -> None:
    tenant = make_tenant(session, agent_pool_visible=False)
    mine, theirs = make_user(session, tenant), make_user(session, tenant)
    lead = make_lead(session, tenant, assigned_user_id=theirs.id)
    with pytest.raises(NotFound):
        record_conversion(
            session, viewer=viewer_for(mine), lead_id=lead.id, value_cents=1, closed_at=NOW, now=NOW
        )
    with pytest.raises(NotFound):
        record_conversion(
            session,
            viewer=manager_of(make_tenant(session)),
            lead_id=lead.id,
            value_cents=1,
            closed_at=NOW,
            now=NOW,
        )
