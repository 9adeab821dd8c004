"""A dispatcher process killed with SIGKILL fifty times while it sends 400 texts through the
real Twilio SDK to a local fake Twilio, on PostgreSQL, restarted after every kill.

The kills land at random moments (a claim, a guard check, a recording transaction, a
reconciliation) and at three chosen points of a send: while Twilio holds a request it has
accepted (the answer never reaches us), right after Twilio answered, and while a request that
Twilio will not act on is in flight. Afterwards every text must be sent and none lost; a text
Twilio received twice is a duplicate (the design's target is 0: a `sending` row whose answer
never came is reconciled with Twilio's message list instead of being sent again).
"""

import collections
import os
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.db import session_scope
from recovery_app.messaging import outbox
from recovery_app.models import Channel, Message, MessageCategory, MessageStatus
from tests.factories import make_lead, make_tenant
from tests.faults.processes import (
    ACCEPTED_UNANSWERED,
    ANSWERED,
    LOST_IN_TRANSIT,
    ROOT,
    DispatcherForks,
    TrappedTwilio,
)

KILLS = 50
LEADS, PER_LEAD = 100, 4
SENDER = "+15125550100"
SPEED = 30.0  # the dispatchers' clock: a 30 s lease passes in 1 s
KINDS = ("random", ACCEPTED_UNANSWERED, ANSWERED, LOST_IN_TRANSIT)


def queue_texts(now: datetime) -> None:
    """400 texts, four to each lead, each with a body of its own (the reconciliation matches a
    text by number and body). Leads wrote to us, so neither quiet hours nor caps hold them."""
    with session_scope() as session:
        tenant = make_tenant(session, name="Kill Office", sender_phone=SENDER)
        for n in range(LEADS):
            lead = make_lead(
                session,
                tenant,
                phone=f"+1512666{n:04d}",
                consent_sms=True,
                timezone="America/Chicago",
                last_inbound_at=now - timedelta(minutes=5),
            )
            for k in range(PER_LEAD):
                outbox.enqueue(
                    session,
                    lead=lead,
                    channel=Channel.SMS,
                    body=f"Text {k} for lead {n}: the 3-bed on Elm is open Saturday.",
                    category=MessageCategory.CONVERSATIONAL,
                    idempotency_key=f"kill:{n}:{k}",
                    now=now,
                )


def statuses() -> collections.Counter:
    with session_scope() as session:
        counts = session.execute(select(Message.status, func.count()).group_by(Message.status))
        return collections.Counter(dict(counts.all()))


@pytest.mark.timeout(240)
def test_sigkill_fifty_times_mid_dispatch_loses_nothing(app_database, backend, tmp_path) -> None:
    if backend != "postgresql":
        pytest.skip("dispatcher processes sharing one database: PostgreSQL")
    seed = int(os.environ.get("FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    twilio = TrappedTwilio(pace=0.05)
    epoch = time.time()
    queue_texts(datetime.fromtimestamp(epoch, UTC))
    env = os.environ | {
        "DATABASE_URL": app_database.url,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "test-auth-token",
        "TWILIO_FROM_NUMBER": SENDER,
        "TWILIO_API_BASE_URL": twilio.url,
        "APP_BASE_URL": "https://leads.example.com",
        "SMS_PER_SECOND_PER_NUMBER": "0",
        "PROVIDER_TIMEOUT_SECONDS": "3",
        "DISPATCH_CONCURRENCY": "2",
        "FAULT_CLOCK_EPOCH": repr(epoch),
        "FAULT_CLOCK_SPEED": repr(SPEED),
        "PYTHONPATH": str(ROOT),
    }
    forks = DispatcherForks(env, tmp_path / "dispatchers.log")
    landed: collections.Counter = collections.Counter()
    took: collections.Counter = collections.Counter()
    pid = None
    try:
        for _ in range(KILLS):
            kind = rng.choice(KINDS)
            twilio.arm(None if kind == "random" else kind, nth=rng.randint(1, 4))
            began = time.monotonic()
            pid = forks.start()
            if kind == "random":
                time.sleep(rng.uniform(0.05, 1.0))
            elif not twilio.sprung.wait(timeout=8):
                kind = "idle"  # nothing left for this incarnation to send
            forks.kill(pid)
            pid = None
            twilio.release.set()
            landed[kind] += 1
            took[kind] += time.monotonic() - began
            if twilio.first_request_at:
                took["startup"] += twilio.first_request_at - began
        twilio.arm(None)
        survivor = time.monotonic()
        pid = forks.start()  # the survivor finishes what the dead left
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and statuses()[MessageStatus.SENT] < LEADS * PER_LEAD:
            time.sleep(0.5)
        took["survivor"] = time.monotonic() - survivor
    finally:
        if pid is not None:
            forks.kill(pid)
        twilio.release.set()
        forks.close()
        twilio.close()

    received = collections.Counter((m["To"], m["Body"]) for m in twilio.messages)
    duplicates = sum(n - 1 for n in received.values())
    with session_scope() as session:
        rows = session.execute(
            select(Message.to_address, Message.body, Message.status, Message.provider_id)
        ).all()
    by_status = collections.Counter(row.status for row in rows)
    lost = [row for row in rows if (row.to_address, row.body) not in received]
    print(
        f"\nSIGKILL x{KILLS} (seed {seed}): kills by point {dict(landed)}; "
        f"{len(rows)} texts, statuses {dict(by_status)}; Twilio requests {twilio.attempts}, "
        f"received {sum(received.values())}, duplicates {duplicates}, lost {len(lost)}"
        f" took {dict(took)}"
    )
    assert len(rows) == LEADS * PER_LEAD
    assert not lost, f"never reached Twilio: {lost[:5]}"
    assert by_status == {MessageStatus.SENT: LEADS * PER_LEAD}, by_status
    # Every row names the Twilio message that carried it (reconciled rows adopt the sid).
    sids = {m["sid"]: (m["To"], m["Body"]) for m in twilio.messages}
    assert all(sids.get(row.provider_id) == (row.to_address, row.body) for row in rows)
    # Kills landed inside sends, not only between them.
    assert landed[ACCEPTED_UNANSWERED] + landed[ANSWERED] + landed[LOST_IN_TRANSIT] >= 15
    assert duplicates == 0, f"{duplicates} texts reached Twilio twice"
