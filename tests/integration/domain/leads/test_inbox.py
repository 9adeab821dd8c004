"""The conversations inbox on SQLite and PostgreSQL: threads waiting for our answer first
(longest wait on top), then the rest; each with its newest message; agents see their own,
managers everyone's or one agent's; the sidebar count."""

import itertools
from datetime import timedelta

from recovery_app.domain.leads import inbox
from recovery_app.models import Channel, Direction, Message
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for

_keys = itertools.count(1)


def say(session, lead, direction: Direction, hours_ago: float, body: str) -> None:
    at = NOW - timedelta(hours=hours_ago)
    session.add(
        Message(
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            channel=Channel.SMS,
            direction=direction,
            body=body,
            idempotency_key=f"inbox:{next(_keys)}",
            created_at=at,
            updated_at=at,
        )
    )
    if direction == Direction.INBOUND:
        lead.last_inbound_at = at
    else:
        lead.last_outbound_at = at
    lead.last_activity_at = max(lead.last_activity_at, at)
    session.flush()


def test_waiting_threads_come_first(session) -> None:
    tenant = make_tenant(session)
    ana, ben = make_user(session, tenant, full_name="Ana"), make_user(session, tenant)
    long_wait = make_lead(
        session, tenant, first_name="Long", last_name="Wait", assigned_user_id=ana.id
    )
    say(session, long_wait, Direction.OUTBOUND, 5, "Hi, still looking?")
    say(session, long_wait, Direction.INBOUND, 3, "Yes! Can we see it Sunday?")
    fresh = make_lead(
        session, tenant, first_name="Fresh", last_name="Reply", assigned_user_id=ana.id
    )
    say(session, fresh, Direction.INBOUND, 1, "Is it still available?")
    answered = make_lead(
        session, tenant, first_name="All", last_name="Good", assigned_user_id=ana.id
    )
    say(session, answered, Direction.INBOUND, 4, "Thanks")
    say(session, answered, Direction.OUTBOUND, 2, "You're welcome")
    make_lead(session, tenant, assigned_user_id=ana.id)  # never talked: not a thread
    bens = make_lead(session, tenant, first_name="Bens", last_name="Lead", assigned_user_id=ben.id)
    say(session, bens, Direction.INBOUND, 2, "Call me")
    pool = make_lead(session, tenant, first_name="Pool", last_name="Lead")
    say(session, pool, Direction.OUTBOUND, 6, "Hello")

    manager = manager_of(tenant)
    threads, total = inbox.threads(session, viewer=manager)
    assert total == 5
    assert [t.name for t in threads] == [
        "Long Wait",
        "Bens Lead",
        "Fresh Reply",
        "All Good",
        "Pool Lead",
    ]
    first = threads[0]
    assert first.waiting and first.agent == "Ana"
    assert (first.last_body, first.last_direction) == ("Yes! Can we see it Sunday?", "inbound")
    assert not threads[3].waiting and threads[3].last_body == "You're welcome"
    assert inbox.waiting_count(session, viewer=manager) == 3

    mine, _ = inbox.threads(session, viewer=viewer_for(ana))
    assert [t.name for t in mine] == ["Long Wait", "Fresh Reply", "All Good"]
    assert inbox.waiting_count(session, viewer=viewer_for(ana)) == 2
    waiting, count = inbox.threads(session, viewer=manager, only_waiting=True)
    assert count == 3 and all(t.waiting for t in waiting)
    unassigned, _ = inbox.threads(session, viewer=manager, agent=inbox.UNASSIGNED)
    assert [t.name for t in unassigned] == ["Pool Lead"]
    bens_only, _ = inbox.threads(session, viewer=manager, agent=str(ben.id))
    assert [t.name for t in bens_only] == ["Bens Lead"]
