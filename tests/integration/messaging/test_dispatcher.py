"""The dispatcher through the real Twilio and SendGrid SDKs, against local fake providers."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from recovery_app.db import session_scope
from recovery_app.domain.compliance.suppression import is_suppressed
from recovery_app.messaging import repository
from recovery_app.messaging.dispatcher import MAX_ATTEMPTS, DispatchStats
from recovery_app.models import (
    Activity,
    Channel,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    MessageStatus,
    Tenant,
)
from tests.fakes.providers import Reply
from tests.integration.conftest import LEAD_PHONE, SENDER, tenant_of


def message(message_id: int) -> Message:
    with session_scope() as session:
        row = session.get(Message, message_id)
        session.expunge(row)
        return row


def _texting_leads(session, office, *, first: int, count: int) -> list[Lead]:
    """`count` more Austin leads who agreed to texts, +1512555<first>, +1512555<first + 1>..."""
    leads = [
        Lead(
            tenant_id=office.tenant_id,
            phone=f"+1512555{first + n}",
            consent_sms=True,
            timezone="America/Chicago",
            created_at=office.clock.now,
            updated_at=office.clock.now,
            last_activity_at=office.clock.now,
        )
        for n in range(count)
    ]
    session.add_all(leads)
    session.flush()
    return leads


def test_sms_goes_out_once_with_callback_validity_and_accounting(office, providers) -> None:
    message_id = office.queue(body="Hi Ana, a 3-bed just listed in Mueller. Want the details?")
    stats = office.dispatcher.drain()
    assert (stats.claimed, stats.sent) == (1, 1)
    [sent] = providers.twilio.messages
    assert sent["To"] == LEAD_PHONE and sent["From"] == SENDER
    assert sent["StatusCallback"] == "https://leads.example.com/api/v1/webhooks/twilio/status"
    assert sent["ValidityPeriod"] == "3600"
    # The first text to a number always says how to stop.
    assert sent["Body"].endswith("Reply STOP to opt out.")
    row = message(message_id)
    assert (
        row.status == MessageStatus.SENT
        and row.provider == "twilio"
        and row.provider_id == sent["sid"]
    )
    assert row.sent_at == office.clock.now and row.segments == 1 and row.cost_microdollars == 8300
    with session_scope() as session:
        lead = office.lead(session)
        assert lead.last_outbound_at == lead.first_response_at == office.clock.now
        kinds = (
            session.execute(select(Activity.kind).where(Activity.lead_id == lead.id))
            .scalars()
            .all()
        )
        assert "sms_out" in kinds
    assert office.dispatcher.drain().claimed == 0  # nothing left, nothing sent twice
    assert len(providers.twilio.messages) == 1


def test_only_the_first_text_gets_opt_out_language(office, providers) -> None:
    office.queue(body="First text")
    office.dispatcher.drain()
    office.clock.advance(hours=1)
    office.queue(body="Second text", category=MessageCategory.CONVERSATIONAL)
    office.dispatcher.drain()
    assert providers.twilio.bodies_to(LEAD_PHONE) == [
        "First text Reply STOP to opt out.",
        "Second text",
    ]


def test_one_batch_reads_each_message_own_facts(office, providers) -> None:
    # The batch reads suppressions and earlier texts once for all its messages: each must
    # still get its own lead's answer.
    from recovery_app.domain.compliance.suppression import suppress
    from recovery_app.messaging.dispatcher import Dispatcher

    with session_scope() as session:
        texted, listed, fresh = _texting_leads(session, office, first=8000, count=3)
        suppress(
            session,
            tenant_id=office.tenant_id,
            channel=Channel.SMS,
            address=listed.phone,
            reason="test",
        )
        ids = texted.id, listed.id, fresh.id
    office.queue(body="Earlier", key="b0", lead_id=ids[0])
    office.dispatcher.drain()
    for n, lead_id in enumerate(ids):
        office.queue(body=f"Batch {n}", key=f"b{n + 1}", lead_id=lead_id)
    stats = Dispatcher("batch", batch_size=3, clock=office.clock).run_once()
    assert (stats.claimed, stats.sent, stats.blocked) == (3, 2, 1)
    assert providers.twilio.bodies_to("+15125558000") == [
        "Earlier Reply STOP to opt out.",
        "Batch 0",
    ]
    assert providers.twilio.bodies_to("+15125558001") == []
    assert providers.twilio.bodies_to("+15125558002") == ["Batch 2 Reply STOP to opt out."]


def test_queued_twice_under_one_key_is_sent_once(office, providers) -> None:
    first = office.queue(key="step:7:1")
    second = office.queue(key="step:7:1", body="a different body, same cause")
    assert first == second
    office.dispatcher.drain()
    assert len(providers.twilio.messages) == 1


def test_marketing_text_at_night_waits_for_the_morning(office, providers) -> None:
    office.clock.now = office.clock.now.replace(hour=3, minute=40)  # 21:40 in Chicago
    message_id = office.queue()
    stats = office.dispatcher.drain()
    assert stats.held == 1 and providers.twilio.messages == []
    row = message(message_id)
    assert row.status == MessageStatus.QUEUED and row.attempts == 0
    # An Austin number: Texas's rule (since 2025-09-01) opens at 09:00, not 08:00.
    assert row.hold_reason.startswith("21:40 in America/Chicago - TX rule quiet hours")
    assert row.hold_reason.endswith("next Mon 09:00.")
    assert row.next_attempt_at == row.next_attempt_at.replace(
        hour=15, minute=0, second=0
    )  # 09:00 CST
    office.clock.now = row.next_attempt_at
    assert office.dispatcher.drain().sent == 1


def _lead_wrote_to_us(office) -> None:
    with session_scope() as session:
        office.lead(session).last_inbound_at = office.clock.now - timedelta(hours=1)


def test_a_reply_to_a_lead_is_not_held_by_quiet_hours(office, providers) -> None:
    office.clock.now = office.clock.now.replace(hour=3, minute=40)
    _lead_wrote_to_us(office)
    office.queue(category=MessageCategory.CONVERSATIONAL)
    assert office.dispatcher.drain().sent == 1


def test_a_person_writing_first_keeps_quiet_hours(office, providers) -> None:
    office.clock.now = office.clock.now.replace(hour=3, minute=40)
    office.queue(category=MessageCategory.CONVERSATIONAL)
    stats = office.dispatcher.drain()
    assert (stats.sent, stats.held) == (0, 1)


def test_opted_out_suppressed_and_unconsented_leads_are_blocked(office, providers) -> None:
    with session_scope() as session:
        lead = office.lead(session)
        lead.opted_out_sms = True
        lead.consent_email = False
    sms = office.queue()
    email = office.queue(Channel.EMAIL, body="Hello")
    stats = office.dispatcher.drain()
    assert stats.blocked == 2
    assert (
        message(sms).status == MessageStatus.SUPPRESSED and message(sms).error_code == "opted_out"
    )
    assert message(email).error_code == "no_consent"
    assert providers.twilio.attempts == 0 and providers.sendgrid.attempts == 0


def test_transient_errors_retry_with_backoff_then_succeed(office, providers) -> None:
    providers.twilio.then(
        Reply(status=500, message="boom"), Reply(status=429, code=20429, message="slow down")
    )
    message_id = office.queue()
    office.dispatcher.drain()
    first = message(message_id)
    assert (
        first.status == MessageStatus.QUEUED and first.attempts == 1 and first.error_code == "500"
    )
    delay = (first.next_attempt_at - office.clock.now).total_seconds()
    assert 30 <= delay <= 45
    office.clock.now = first.next_attempt_at
    office.dispatcher.drain()
    second = message(message_id)
    assert (
        second.attempts == 2
        and 45 <= (second.next_attempt_at - office.clock.now).total_seconds() <= 75
    )
    office.clock.now = second.next_attempt_at
    office.dispatcher.drain()
    assert message(message_id).status == MessageStatus.SENT
    assert providers.twilio.attempts == 3 and len(providers.twilio.messages) == 1


def test_eight_failed_attempts_end_in_failed(office, providers) -> None:
    providers.twilio.then(*[Reply(status=503, message="down")] * MAX_ATTEMPTS)
    # A reply in the lead's conversation, so the night hours the clock passes do not hold it.
    _lead_wrote_to_us(office)
    message_id = office.queue(category=MessageCategory.CONVERSATIONAL)
    for _ in range(MAX_ATTEMPTS):
        office.dispatcher.drain()
        office.clock.advance(hours=2)
    row = message(message_id)
    assert (
        row.status == MessageStatus.FAILED
        and row.attempts == MAX_ATTEMPTS
        and row.error_code == "503"
    )
    assert providers.twilio.attempts == MAX_ATTEMPTS


def test_a_failed_send_tells_the_agent_or_the_managers(office, providers) -> None:
    from recovery_app.models import Notification, Role
    from tests.factories import make_user

    providers.twilio.then(Reply(status=400, code=21211, message="Invalid 'To' number"))
    providers.sendgrid.then(Reply(status=400, message="Mailbox does not exist"))
    with session_scope() as session:
        boss = make_user(session, tenant_of(session, office), role=Role.MANAGER).id
    first = office.queue()
    office.dispatcher.drain()
    with session_scope() as session:
        agent = make_user(session, tenant_of(session, office)).id
        office.lead(session).assigned_user_id = agent
    second = office.queue(Channel.EMAIL, body="Second try")
    office.dispatcher.drain()
    with session_scope() as session:
        notes = session.execute(
            select(
                Notification.user_id, Notification.kind, Notification.title, Notification.body
            ).order_by(Notification.id)
        ).all()
    assert [(user, kind) for user, kind, _, _ in notes] == [(boss, "failure"), (agent, "failure")]
    assert notes[0].title.startswith("Text to Ana Last") and notes[0].title.endswith(" failed")
    assert "Invalid 'To'" in notes[0].body and notes[1].title.startswith("Email to Ana")
    assert message(first).status == message(second).status == MessageStatus.FAILED


def test_unsubscribed_number_is_not_retried_and_opts_the_lead_out(office, providers) -> None:
    providers.twilio.then(
        Reply(status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    )
    message_id = office.queue()
    office.dispatcher.drain()
    row = message(message_id)
    assert row.status == MessageStatus.FAILED and row.error_code == "21610"
    with session_scope() as session:
        lead = office.lead(session)
        assert lead.opted_out_sms and "21610" in lead.opted_out_sms_reason
    office.clock.advance(hours=3)
    assert office.dispatcher.drain().claimed == 0 and providers.twilio.attempts == 1


def test_invalid_number_is_suppressed(office, providers) -> None:
    providers.twilio.then(Reply(status=400, code=21211, message="Invalid 'To' Phone Number"))
    office.queue()
    office.dispatcher.drain()
    with session_scope() as session:
        assert is_suppressed(
            session, tenant_id=office.tenant_id, channel=Channel.SMS, address=LEAD_PHONE
        )
    office.queue(body="another", key="other")
    assert office.dispatcher.drain().blocked == 1


def test_a_timeout_after_twilio_took_the_message_is_reconciled_not_resent(
    office, providers
) -> None:
    providers.twilio.then(Reply(delay=2.0))  # Twilio creates it, but answers after our 1 s timeout
    message_id = office.queue()
    stats = office.dispatcher.drain()
    assert stats.unknown == 1
    assert message(message_id).status == MessageStatus.SENDING
    office.clock.advance(seconds=31)
    stats = office.dispatcher.drain()
    assert stats.reconciled == 1 and stats.sent == 1
    row = message(message_id)
    assert (
        row.status == MessageStatus.SENT and row.provider_id == providers.twilio.messages[0]["sid"]
    )
    assert providers.twilio.attempts == 1  # never sent twice


def test_a_timeout_where_twilio_did_not_take_it_is_sent_again(office, providers) -> None:
    providers.twilio.then(Reply(delay=2.0, record=False, status=500))
    message_id = office.queue()
    office.dispatcher.drain()
    office.clock.advance(seconds=31)
    office.dispatcher.drain()  # reconcile: not at Twilio -> back in the queue with backoff
    office.clock.advance(minutes=2)
    office.dispatcher.drain()
    assert message(message_id).status == MessageStatus.SENT
    assert len(providers.twilio.messages) == 1


def test_a_worker_that_died_mid_send_is_recovered(office, providers) -> None:
    message_id = office.queue()
    with session_scope() as session:  # a dispatcher claims the row and then vanishes
        assert repository.claim_due(
            session, now=office.clock.now, limit=10, lease=timedelta(minutes=2)
        ) == [message_id]
    assert office.dispatcher.drain().claimed == 0  # nobody touches it during the lease
    office.clock.advance(minutes=3)
    stats = office.dispatcher.drain()
    assert stats.reconciled == 1
    office.clock.advance(minutes=2)
    office.dispatcher.drain()
    assert message(message_id).status == MessageStatus.SENT and len(providers.twilio.messages) == 1


def test_email_carries_unsubscribe_address_and_message_id(office, providers, monkeypatch) -> None:
    from recovery_app.settings import reload_settings

    monkeypatch.setenv("SENDGRID_UNSUBSCRIBE_GROUP_ID", "4242")
    reload_settings()
    message_id = office.queue(
        Channel.EMAIL,
        body="Hi Ana,\n\nThree new homes match <your> search.",
        subject="New homes for you",
    )
    assert office.dispatcher.drain().sent == 1
    [mail] = providers.sendgrid.mails
    assert mail["from"] == {"email": "austin@office.example", "name": "Harbor Office"}
    assert mail["personalizations"][0]["to"] == [{"email": "ana@example.com"}]
    assert mail["subject"] == "New homes for you"
    assert mail["custom_args"]["message_id"] == str(message_id)
    unsubscribe = mail["headers"]["List-Unsubscribe"]
    assert unsubscribe.startswith(
        "<https://leads.example.com/unsubscribe/"
    ) and unsubscribe.endswith(">")
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["asm"] == {"group_id": 4242}
    text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    html = next(c["value"] for c in mail["content"] if c["type"] == "text/html")
    assert "1 Main St, Austin, TX 78701" in text and "1 Main St, Austin, TX 78701" in html
    assert "&lt;your&gt;" in html and "<your>" not in html  # lead text is never markup
    assert message(message_id).cost_microdollars == 1000


def test_email_errors(office, providers) -> None:
    providers.sendgrid.then(
        Reply(status=429, headers={"Retry-After": "120"}), Reply(status=400, message="bad")
    )
    message_id = office.queue(Channel.EMAIL, body="Hi")
    office.dispatcher.drain()
    row = message(message_id)
    assert (
        row.status == MessageStatus.QUEUED
        and (row.next_attempt_at - office.clock.now).total_seconds() >= 120
    )
    office.clock.now = row.next_attempt_at
    office.dispatcher.drain()
    assert (
        message(message_id).status == MessageStatus.FAILED
        and message(message_id).error_code == "400"
    )


def test_marketing_email_needs_a_postal_address(office, providers) -> None:
    with session_scope() as session:
        session.get(Tenant, office.tenant_id).postal_address = None
    message_id = office.queue(Channel.EMAIL, body="Hi")
    assert office.dispatcher.drain().blocked == 1
    assert message(message_id).error_code == "no_postal_address"


def test_frequency_cap_holds_the_fourth_marketing_message(office, providers) -> None:
    for n in range(3):
        office.queue(body=f"Marketing {n}", key=f"m{n}")
        office.dispatcher.drain()
        office.clock.advance(hours=1)
    fourth = office.queue(body="Marketing 3", key="m3")
    office.dispatcher.drain()
    row = message(fourth)
    assert row.status == MessageStatus.QUEUED and row.hold_reason.startswith(
        "Already 3 marketing messages"
    )
    assert row.next_attempt_at == office.clock.now - timedelta(hours=3) + timedelta(hours=24)
    # Conversation is not capped.
    office.queue(body="About your question", key="c1", category=MessageCategory.CONVERSATIONAL)
    assert office.dispatcher.drain().sent == 1


def test_demo_tenants_only_ever_use_the_sandbox(office, providers) -> None:
    with session_scope() as session:
        session.get(Tenant, office.tenant_id).is_demo = True
    sms, email = office.queue(), office.queue(Channel.EMAIL, body="Hi")
    office.dispatcher.drain()
    assert message(sms).status == message(email).status == MessageStatus.SIMULATED
    assert providers.twilio.attempts == 0 and providers.sendgrid.attempts == 0
    with session_scope() as session:
        assert office.lead(session).status == LeadStatus.CONTACTED


def test_pacing_spaces_texts_from_one_number(office, providers, monkeypatch) -> None:
    from recovery_app.messaging.dispatcher import Dispatcher
    from recovery_app.messaging.pacing import Pacer
    from recovery_app.settings import reload_settings

    monkeypatch.setenv("SMS_PER_SECOND_PER_NUMBER", "4")
    reload_settings()
    with session_scope() as session:
        ids = [lead.id for lead in _texting_leads(session, office, first=7000, count=6)]
    for n, lead_id in enumerate(ids):
        # Marketing: the bulk is paced (texts a person waits for are not, see below).
        office.queue(
            body=f"Paced {n}", key=f"p{n}", lead_id=lead_id, category=MessageCategory.MARKETING
        )
    # Real seconds pass (the pacer spaces sends in wall time) from the office's noon, so the
    # quiet hours of the lead's zone never depend on when the suite runs.
    started, wall_start = time.monotonic(), time.time()
    dispatcher = Dispatcher(
        "paced",
        pacer=Pacer(),
        clock=lambda: office.clock.now + timedelta(seconds=time.monotonic() - started),
    )
    while len(providers.twilio.messages) < 6 and time.monotonic() - started < 20:
        dispatcher.run_once()
    times = sorted(m["received_at"] for m in providers.twilio.messages)
    assert len(times) == 6
    # 4 per second: the k-th text's slot is k quarter-seconds after the first possible one. A
    # send can only be late, never early, so gaps between arrivals may shrink on a busy
    # machine, but no text arrives before its slot.
    for k, received in enumerate(times):
        assert received - wall_start >= k * 0.25 - 0.02


def test_held_and_blocked_reasons_are_stored_on_the_message(office, providers) -> None:
    with session_scope() as session:
        lead = office.lead(session)
        lead.timezone = None
        lead.phone = "+4420" + "71234567"  # a London number: quiet hours follow the number's zone
        tenant = session.get(Tenant, office.tenant_id)
        tenant.timezone = "America/Chicago"
    office.clock.now = office.clock.now.replace(hour=23)  # 23:00 in London
    message_id = office.queue()
    office.dispatcher.drain()
    assert "Europe/London" in message(message_id).hold_reason
    with session_scope() as session:
        assert (
            session.execute(select(Message.status).where(Message.id == message_id)).scalar_one()
            == "queued"
        )
        assert isinstance(session.get(Lead, office.lead_id), Lead)


def _refuse_update(when: str) -> None:
    """A PostgreSQL trigger that fails every UPDATE of messages matching `when` (NEW/OLD): a
    row the database will not take, as a bug or a broken row would make it."""
    with session_scope() as session:
        session.execute(
            text(
                "CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER refuse BEFORE UPDATE ON messages FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION refuse_update()"
            )
        )


def _drop_refusal() -> None:
    with session_scope() as session:
        session.execute(text("DROP TRIGGER IF EXISTS refuse ON messages"))
        session.execute(text("DROP FUNCTION IF EXISTS refuse_update()"))


def test_a_row_that_breaks_its_batch_does_not_hold_up_the_others(
    office, providers, backend
) -> None:
    if backend != "postgresql":
        pytest.skip("the failing row is made by a PostgreSQL trigger")
    good = office.queue(body="Good one", key="good")
    bad = office.queue(Channel.EMAIL, body="Bad one", key="bad", subject="Hello")
    # The guard's changes to the claimed row (already `sending`) fail for the bad one.
    _refuse_update(f"OLD.id = {bad} AND OLD.status = 'sending' AND NEW.status = 'sending'")
    try:
        stats = office.dispatcher.drain()
    finally:
        _drop_refusal()
    assert providers.twilio.bodies_to(LEAD_PHONE) == ["Good one Reply STOP to opt out."]
    assert providers.sendgrid.mails == []
    assert message(good).status == MessageStatus.SENT
    # The bad one keeps its claim until the lease runs out: then it is reconciled, not lost.
    assert message(bad).status == MessageStatus.SENDING
    assert stats.sent == 1 and len(stats.errors) == 1


def test_a_result_that_cannot_be_recorded_is_reconciled_not_sent_again(
    office, providers, backend
) -> None:
    if backend != "postgresql":
        pytest.skip("the failing row is made by a PostgreSQL trigger")
    email = office.queue(Channel.EMAIL, body="An email", key="email", subject="Hello")
    sms = office.queue(body="A text", key="sms")
    _refuse_update(f"OLD.id = {sms} AND NEW.status = 'sent'")
    try:
        office.dispatcher.drain()
    finally:
        _drop_refusal()
    assert message(email).status == MessageStatus.SENT
    assert message(sms).status == MessageStatus.SENDING and len(providers.twilio.messages) == 1
    office.clock.advance(minutes=10)  # past the lease: reconciled with Twilio, not sent again
    office.dispatcher.drain()
    assert message(sms).status == MessageStatus.SENT
    assert len(providers.twilio.messages) == 1 and len(providers.sendgrid.mails) == 1


def test_first_responses_never_wait_behind_a_campaign_at_the_default_pace(
    office, providers, monkeypatch
) -> None:
    """SMS_PER_SECOND_PER_NUMBER at its default (1): a campaign of 400 texts falls due, then a
    burst of 60 new leads' first texts. The first texts are claimed ahead of the campaign and
    not paced, so they all go at once; the campaign keeps to one text a second."""
    from recovery_app.settings import reload_settings

    monkeypatch.delenv("SMS_PER_SECOND_PER_NUMBER")  # the default, not the fixture's 0
    reload_settings()
    with session_scope() as session:
        bulk = _texting_leads(session, office, first=3000, count=400)
        burst = _texting_leads(session, office, first=4000, count=60)
        for lead in bulk:
            session.add(_queued(office, lead, MessageCategory.MARKETING, "Spring open houses!"))
        session.flush()
        office.clock.advance(seconds=1)  # the campaign fell due first
        for lead in burst:
            session.add(_queued(office, lead, MessageCategory.AUTOMATED, "Thanks, it's Ann!"))
    started = time.monotonic()
    while len(providers.twilio.messages) < 60 and time.monotonic() - started < 20:
        office.dispatcher.run_once()
    took = time.monotonic() - started
    firsts = [m for m in providers.twilio.messages if m["Body"].startswith("Thanks, it's Ann!")]
    bulk_sent = [m for m in providers.twilio.messages if m["Body"].startswith("Spring")]
    assert len(firsts) == 60, took
    assert took < 5
    assert len(bulk_sent) <= took + 2  # the bulk kept its pace


def test_a_campaign_waiting_for_its_numbers_pace_is_not_claimed_round_and_round(
    office, providers, monkeypatch
) -> None:
    """At the default pace (1 text/s from the number) a campaign of 400 texts falls due. A pass
    used to claim a batch of them, check each against the guard, sleep up to a second for the
    one the number could send (the first texts claimed after it waited that second too) and
    put the rest back, each in a transaction. Now passes do not sleep for the campaign and
    claim about what the number can send: the texts turned away stay about two a second."""
    from recovery_app.settings import reload_settings

    monkeypatch.delenv("SMS_PER_SECOND_PER_NUMBER")  # the default, not the fixture's 0
    reload_settings()
    with session_scope() as session:
        for lead in _texting_leads(session, office, first=5000, count=400):
            session.add(_queued(office, lead, MessageCategory.MARKETING, "Spring open houses!"))
    office.clock.advance(seconds=1)
    total, passes, started = DispatchStats(), 0, time.monotonic()
    while time.monotonic() - started < 4:
        total.add(office.dispatcher.run_once())
        passes += 1
    took = time.monotonic() - started
    sent = len(providers.twilio.messages)
    assert passes > 20  # passes ran all along (a busy server's commits start them)
    assert took - 1 <= sent <= took + 2  # the number's pace
    # Turned away: about two a second (a pass that sent all it claimed tries one more).
    assert total.claimed - sent <= 3 * took + 3, (total.claimed, sent, passes)


def _queued(office, lead: Lead, category: MessageCategory, body: str) -> Message:
    now = office.clock.now
    return Message(
        tenant_id=office.tenant_id,
        lead_id=lead.id,
        channel=Channel.SMS,
        direction="outbound",
        category=category,
        to_address=lead.phone,
        body=body,
        idempotency_key=f"{category}:{lead.id}",
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def test_from_2027_an_opt_out_on_one_channel_stops_marketing_on_the_other(office, providers):
    """The FCC's revoke-all rule (31 January 2027): STOP to a text ends marketing email too,
    unless the office keeps email apart (Settings)."""
    from datetime import UTC, datetime

    from recovery_app.domain.compliance.revocation import EXEMPT

    with session_scope() as session:
        office.lead(session).opted_out_sms = True
    office.clock.now = datetime(2027, 1, 30, 18, tzinfo=UTC)  # the day before: still sent
    before = office.queue(Channel.EMAIL, body="A new listing", key="revoke-1")
    office.clock.now = datetime(2027, 2, 1, 18, tzinfo=UTC)
    after = office.queue(Channel.EMAIL, body="Another listing", key="revoke-2")
    office.clock.now = datetime(2027, 1, 30, 18, tzinfo=UTC)
    office.dispatcher.drain()
    office.clock.now = datetime(2027, 2, 1, 18, tzinfo=UTC)
    office.dispatcher.drain()
    assert message(before).status == MessageStatus.SENT
    assert message(after).status == MessageStatus.SUPPRESSED
    assert "another channel" in (message(after).error_message or "")
    with session_scope() as session:
        tenant = tenant_of(session, office)
        tenant.preferences = {**(tenant.preferences or {}), EXEMPT: ["email"]}
    exempt = office.queue(Channel.EMAIL, body="Exempted", key="revoke-3")
    office.dispatcher.drain()
    assert message(exempt).status == MessageStatus.SENT
