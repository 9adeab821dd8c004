"""Per-campaign performance on SQLite and PostgreSQL, against hand-counted answers: sent,
delivered, replied, recovered, converted, revenue, cost (messages and AI drafts) and ROI."""

import itertools
from datetime import timedelta

import pytest

from recovery_app.domain.campaigns import performance, service
from recovery_app.domain.campaigns.schemas import CampaignIn, StepIn
from recovery_app.errors import Forbidden
from recovery_app.models import (
    AiDraft,
    Channel,
    Conversion,
    Direction,
    Enrollment,
    EnrollmentStatus,
    Message,
    MessageStatus,
    Role,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

_keys = itertools.count(1)
SMS = "Hi {{first_name}}. Reply STOP to opt out."


def campaign(session, tenant, name="C"):
    steps = [StepIn(channel=Channel.SMS, body=SMS), StepIn(channel=Channel.SMS, body=SMS)]
    return service.create_campaign(
        session, viewer=manager_of(tenant), data=CampaignIn(name=name, steps=steps), now=NOW
    )


def message(session, lead, campaign_id, status, *, cost=0, direction=Direction.OUTBOUND, **at):
    sent = status not in (MessageStatus.QUEUED, MessageStatus.CANCELED)
    session.add(
        Message(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            channel=Channel.SMS,
            direction=direction,
            status=status,
            body="Hi",
            campaign_id=campaign_id,
            idempotency_key=f"perf:{next(_keys)}",
            sent_at=NOW if sent else None,
            cost_microdollars=cost or None,
            **at,
        )
    )


def enroll(session, lead, campaign_id, status, reason=None):
    session.add(
        Enrollment(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            campaign_id=campaign_id,
            status=status,
            stopped_reason=reason,
        )
    )


def test_each_campaign_counts_only_its_own(session) -> None:
    tenant, other = make_tenant(session), make_tenant(session)
    a, b, quiet = (
        campaign(session, tenant, "A"),
        campaign(session, tenant, "B"),
        campaign(session, tenant, "Q"),
    )
    theirs = campaign(session, other, "Theirs")
    ann, bob, cat = (make_lead(session, tenant) for _ in range(3))
    stranger = make_lead(session, other)

    message(session, ann, a.id, MessageStatus.DELIVERED, cost=7900)
    message(
        session,
        bob,
        a.id,
        MessageStatus.REPLIED,
        cost=7900,
        delivered_at=NOW,
        replied_at=NOW + timedelta(hours=1),
    )
    message(session, cat, a.id, MessageStatus.OPENED, cost=1000, delivered_at=NOW)
    message(session, cat, a.id, MessageStatus.UNDELIVERED, cost=7900)
    message(session, cat, a.id, MessageStatus.QUEUED)  # not sent yet: not counted
    message(session, bob, a.id, MessageStatus.RECEIVED, direction=Direction.INBOUND)  # theirs
    message(session, ann, b.id, MessageStatus.SENT, cost=100)
    message(session, stranger, theirs.id, MessageStatus.DELIVERED, cost=99_000)

    enroll(session, ann, a.id, EnrollmentStatus.ACTIVE)
    enroll(session, bob, a.id, EnrollmentStatus.STOPPED, "replied")
    enroll(session, cat, a.id, EnrollmentStatus.STOPPED, "opted_out")
    enroll(session, stranger, theirs.id, EnrollmentStatus.STOPPED, "replied")

    for lead, cents, credited in (
        (bob, 400_000_00, a.id),
        (bob, 5_000_00, a.id),  # a second deal of the same lead: one converted lead
        (ann, 300_000_00, None),  # closed without recovery
        (stranger, 900_000_00, theirs.id),
    ):
        session.add(
            Conversion(
                tenant_id=lead.tenant_id,
                lead_id=lead.id,
                value_cents=cents,
                closed_at=NOW,
                attributed_campaign_id=credited,
            )
        )
    step_a = service.steps_of(session, a.id)[0]
    session.add(
        AiDraft(
            tenant_id=tenant.id,
            campaign_step_id=step_a.id,
            cache_key="perf:ai",
            channel=Channel.SMS,
            body="Hi",
            cost_microdollars=1300,
        )
    )
    session.flush()

    found = performance.performance(session, viewer=manager_of(tenant))
    assert set(found) == {a.id, b.id, quiet.id}  # every campaign with steps; none of theirs
    first = found[a.id]
    assert (first.enrolled, first.active, first.recovered) == (3, 1, 1)
    assert (first.sent, first.delivered, first.replied) == (4, 3, 1)
    assert (first.converted, first.revenue_cents) == (1, 405_000_00)
    assert first.cost_microdollars == 7900 * 3 + 1000 + 1300
    assert first.roi == pytest.approx(405_000_00 * 10_000 / 26_000)
    second = found[b.id]
    assert (second.sent, second.delivered, second.revenue_cents, second.cost_microdollars) == (
        1,
        0,
        0,
        100,
    )
    assert second.roi == 0
    assert found[quiet.id].roi is None and found[quiet.id].steps == 2


def test_only_managers_see_campaign_results(session) -> None:
    tenant = make_tenant(session)
    agent = viewer_for(make_user(session, tenant, role=Role.AGENT))
    with pytest.raises(Forbidden):
        performance.performance(session, viewer=agent)
