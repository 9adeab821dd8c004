"""Four dispatchers, one outbox: every message goes out exactly once."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.db import session_scope
from recovery_app.messaging import repository
from recovery_app.messaging.dispatcher import Dispatcher, DispatchStats
from recovery_app.messaging.pacing import Pacer
from recovery_app.models import (
    Channel,
    Direction,
    Lead,
    Message,
    MessageCategory,
    MessageStatus,
    Tenant,
)
from tests.integration.conftest import NOON

MESSAGES = 2_000
LEADS = 200


def queue_many(tenant_id: int) -> None:
    with session_scope() as session:
        leads = [
            Lead(
                tenant_id=tenant_id,
                phone=f"+1512555{8000 + n:04d}",
                consent_sms=True,
                timezone="America/Chicago",
                created_at=NOON,
                updated_at=NOON,
                last_activity_at=NOON,
            )
            for n in range(LEADS)
        ]
        session.add_all(leads)
        session.flush()
        session.add_all(
            Message(
                tenant_id=tenant_id,
                lead_id=leads[n % LEADS].id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                category=MessageCategory.CONVERSATIONAL,
                status=MessageStatus.QUEUED,
                to_address=leads[n % LEADS].phone,
                body=f"message #{n}",
                idempotency_key=f"bulk:{n}",
                next_attempt_at=NOON,
                created_at=NOON,
                updated_at=NOON,
            )
            for n in range(MESSAGES)
        )


def test_a_claim_takes_no_more_than_its_limit(office) -> None:
    # On PostgreSQL `id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` once took 134 rows for
    # a limit of 50; one worker then sent them all while the others sat idle.
    queue_many(office.tenant_id)
    with session_scope() as session:
        first = repository.claim_due(session, now=NOON, limit=50, lease=timedelta(minutes=2))
    with session_scope() as session:
        second = repository.claim_due(session, now=NOON, limit=50, lease=timedelta(minutes=2))
    assert len(first) == len(second) == 50
    assert not set(first) & set(second)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_four_dispatchers_send_each_message_exactly_once(office, providers) -> None:
    queue_many(office.tenant_id)
    totals: list[DispatchStats] = []

    def work(n: int) -> None:
        totals.append(
            Dispatcher(f"worker-{n}", batch_size=25, pacer=Pacer(), clock=lambda: NOON).drain()
        )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    bodies = [m["Body"].removesuffix(" Reply STOP to opt out.") for m in providers.twilio.messages]
    assert len(bodies) == MESSAGES
    assert len(set(bodies)) == MESSAGES  # no message twice
    assert providers.twilio.attempts == MESSAGES  # and no extra attempt
    assert sum(t.sent for t in totals) == MESSAGES
    assert all(t.sent > 0 for t in totals)  # the work really was shared
    with session_scope() as session:
        statuses = dict(
            session.execute(
                select(Message.status, func.count())
                .where(Message.tenant_id == office.tenant_id)
                .group_by(Message.status)
            ).all()
        )
        assert statuses == {MessageStatus.SENT: MESSAGES}
        distinct_ids = session.execute(
            select(func.count(Message.provider_id.distinct()))
        ).scalar_one()
        assert distinct_ids == MESSAGES
        assert session.get(Tenant, office.tenant_id) is not None
