import pytest
from sqlalchemy import func, select

from recovery_app.errors import ValidationFailed
from recovery_app.messaging import outbox
from recovery_app.models import Channel, Message, MessageStatus
from tests.factories import NOW, make_lead, make_tenant


def test_enqueue_is_idempotent_per_key(session) -> None:
    lead = make_lead(session, make_tenant(session), phone="+15125550111")
    first = outbox.enqueue(
        session, lead=lead, channel=Channel.SMS, body="Hi", idempotency_key="intake:1", now=NOW
    )
    again = outbox.enqueue(
        session, lead=lead, channel=Channel.SMS, body="Other", idempotency_key="intake:1", now=NOW
    )
    assert first is again
    assert (
        first.status == MessageStatus.QUEUED
        and first.to_address == "+15125550111"
        and first.next_attempt_at == NOW
    )
    assert session.execute(select(func.count()).select_from(Message)).scalar_one() == 1
    assert session.info.get("wake_dispatcher") is True


@pytest.mark.parametrize(
    ("channel", "body", "subject", "field"),
    [
        (Channel.SMS, "  ", None, "body"),
        (Channel.SMS, "x" * 1601, None, "body"),
        (Channel.EMAIL, "Hi", "", "subject"),
    ],
)
def test_bad_messages_are_refused(session, channel, body, subject, field) -> None:
    lead = make_lead(session, make_tenant(session))
    with pytest.raises(ValidationFailed) as caught:
        outbox.enqueue(
            session,
            lead=lead,
            channel=channel,
            body=body,
            subject=subject,
            idempotency_key="k",
            now=NOW,
        )
    assert field in caught.value.fields


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_transactions_racing_on_one_key_make_one_message(app_database) -> None:
    """The second INSERT waits on the unique index until the first commits, then gets the
    first transaction's row back instead of a second message."""
    import threading

    from recovery_app.db import session_scope
    from recovery_app.models import Lead

    with session_scope() as setup:
        lead_id = make_lead(setup, make_tenant(setup)).id
    first_inserted, release_first = threading.Event(), threading.Event()
    results: dict[str, str] = {}

    def first() -> None:
        with session_scope() as session:
            row = outbox.enqueue(
                session,
                lead=session.get(Lead, lead_id),
                channel=Channel.SMS,
                body="A",
                idempotency_key="race:1",
                now=NOW,
            )
            session.flush()
            first_inserted.set()
            release_first.wait(10)
            results["first"] = row.body

    def second() -> None:
        first_inserted.wait(10)
        with session_scope() as session:
            row = outbox.enqueue(
                session,
                lead=session.get(Lead, lead_id),
                channel=Channel.SMS,
                body="B",
                idempotency_key="race:1",
                now=NOW,
            )
            results["second"] = row.body

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inserted.wait(10)
    threading.Event().wait(0.5)  # let the second transaction reach the blocked INSERT
    release_first.set()
    for thread in threads:
        thread.join(20)
    assert results == {"first": "A", "second": "A"}
    with session_scope() as check:
        assert check.execute(select(func.count()).select_from(Message)).scalar_one() == 1
