"""PostgreSQL stopped for 10 s (the proxy between the production server and the database
refuses new connections and cuts open ones) while GoHighLevel and a web form post 1,000 new
leads: afterwards every lead is stored exactly once, every first response left exactly once
(form leads: one text at Twilio and one email at SendGrid per person; GoHighLevel contacts
carry no consent, so the guard blocks theirs, once), and nothing waits in the inbox or outbox.

The contract that makes this possible: while it cannot store, `/webhooks/leads` answers 503
and `/webhooks/ghl` 429 (the only answer GoHighLevel retries), so each caller tries again."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.messaging import outbox
from recovery_app.messaging.dispatcher import Dispatcher, sending_lease
from recovery_app.models import Channel, Message, MessageStatus, Tenant
from tests.conftest import _POSTGRES, app_pointed_at
from tests.factories import make_lead
from tests.fakes.providers import Reply
from tests.faults.conftest import (
    answers_by_caller,
    assert_each_once,
    assert_no_lead_lost,
    fake_providers,
    needs_services,
    production_server,
    proxy_to,
    redis_url,
    settled,
    wait_until,
)
from tests.faults.senders import send_all

pytestmark = [needs_services, pytest.mark.timeout(600)]

LEADS = 1000
RATE = 40.0  # first tries a second: the posting spans ~25 s, the outage sits inside it
OUTAGE_STARTS = 6.0  # seconds after the first post
OUTAGE_SECONDS = 10.0


def test_database_outage_loses_and_doubles_no_lead(tmp_path, office, callers) -> None:
    assert _POSTGRES is not None
    posts = callers.leads("db", LEADS)
    with (
        fake_providers() as providers,
        proxy_to(_POSTGRES, 5432) as database,
        production_server(
            tmp_path,
            office,
            database_url=office.url_through(database),
            redis=redis_url(),
            providers=providers,
            callers=callers,
            SMS_PER_SECOND_PER_NUMBER="0",  # 1,000 texts from one number: no per-second pacing
            PROVIDER_TIMEOUT_SECONDS="5",  # sends cut mid-way are reconciled after 30 s
        ) as server,
    ):
        outage: list[threading.Thread] = []
        timer = threading.Timer(
            OUTAGE_STARTS, lambda: outage.append(database.outage_for(OUTAGE_SECONDS))
        )
        timer.start()
        started = time.monotonic()
        deliveries = send_all(server.url, posts, rate=RATE, seconds=300)
        posting = time.monotonic() - started
        timer.join()
        outage[0].join()

        assert_no_lead_lost(deliveries)
        # The outage reached the callers (else this test proves nothing): form posts were
        # answered 503 and GoHighLevel's 429 - the answers each retries - and nothing else.
        answers = answers_by_caller(deliveries)
        assert answers["form"][503] > 0 and answers["ghl"][429] > 0, answers
        assert set(answers["form"]) <= {200, 201, 503}, answers
        assert set(answers["ghl"]) <= {200, 429}, answers
        assert database.stats.cut > 0

        drained = wait_until(
            settled(office, leads=LEADS),
            timeout=300,
            what="every lead stored and both of its first responses out of the outbox",
        )
        print(f"\nposting {posting:.0f} s, answers {answers}, drained {drained:.0f} s later")
        assert_each_once(office, posts, providers)


def test_an_answer_in_hand_is_recorded_once_the_database_is_back(office, monkeypatch) -> None:
    """The dispatcher sent an email, and the database went away before it could write that
    down. SendGrid cannot be asked what it took, so a row left `sending` would be sent again
    once its lease ran out (the 1,000-lead run above emailed a few people twice that way):
    the dispatcher keeps trying to record the answer it holds instead."""
    assert _POSTGRES is not None
    with fake_providers() as providers, proxy_to(_POSTGRES, 5432) as database:
        for name, value in providers.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("APP_BASE_URL", "https://leads.example.com")
        monkeypatch.setenv("SECRET_KEY", "faults-secret-key")
        with app_pointed_at(office.url_through(database)):
            now = datetime.now(UTC)
            with session_scope() as session:
                tenant = session.execute(select(Tenant)).scalar_one()
                lead = make_lead(
                    session, tenant, email="ana@example.com", consent_email=True, phone=None
                )
                message_id = outbox.enqueue(
                    session,
                    lead=lead,
                    channel=Channel.EMAIL,
                    body="Hi Ana, the 3-bed on Elm is open Saturday.",
                    subject="Open house",
                    idempotency_key="faults:answer-in-hand",
                    now=now,
                ).id
            clock = [now]
            dispatcher = Dispatcher("faults", clock=lambda: clock[0])
            # SendGrid takes the mail and answers 2 s later; the database is away meanwhile.
            providers.sendgrid.then(Reply(status=202, delay=2.0))
            outage = threading.Thread(
                target=lambda: (
                    wait_until(
                        lambda: providers.sendgrid.attempts == 1,
                        timeout=30,
                        every=0.05,
                        what="the send",
                    ),
                    database.outage_for(4.0).join(),
                )
            )
            outage.start()
            first = dispatcher.run_once()
            outage.join()
            # Past the lease: a row still `sending` would now be reconciled and sent again.
            clock[0] = now + sending_lease() + timedelta(seconds=1)
            later = dispatcher.drain()
            dispatcher.close()
            with session_scope() as session:
                message = session.get(Message, message_id)
                assert message is not None
                status, attempts = message.status, message.attempts
    assert database.stats.cut > 0  # the outage really happened under the dispatcher
    assert (first.sent, later.claimed, later.reconciled) == (1, 0, 0)
    assert (status, attempts) == (MessageStatus.SENT, 1)
    assert len(providers.sendgrid.mails) == 1
