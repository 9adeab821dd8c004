"""The setup most users start with (SQLite and PostgreSQL): TWILIO_FROM_NUMBER in the
environment, two offices made without numbers of their own (`recovery create-tenant` with no
extras), leads texted from that one shared number. Inbound texts to it must reach the right
office, and a STOP must stop every office that texts from it (it used to be dropped as
"no tenant sends from +1...", and the next recovery text went out to the person who said STOP).
"""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.compliance.suppression import is_suppressed
from recovery_app.domain.conversations import unmatched
from recovery_app.errors import Forbidden
from recovery_app.messaging import outbox
from recovery_app.messaging.dispatcher import Dispatcher
from recovery_app.messaging.pacing import Pacer
from recovery_app.models import (
    Campaign,
    Channel,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    MessageStatus,
    Notification,
    Role,
    Tenant,
    UnmatchedText,
)
from tests.factories import make_lead, make_tenant, make_user
from tests.integration.conftest import SENDER, Clock

BASE = "https://leads.example.com"
PHONE = "+15125550177"  # a lead of office A, texted from the shared number
OTHER = "+15125550188"  # a lead of office B only


@pytest.fixture
def shared(app_database, providers):
    """Two offices with no number of their own; both text from TWILIO_FROM_NUMBER (SENDER)."""
    with session_scope() as s:
        a = make_tenant(s, name="Austin", timezone="America/Chicago", postal_address="1 Main")
        b = make_tenant(s, name="Denver", timezone="America/Chicago", postal_address="2 Main")
        assert a.sender_phone is None and b.sender_phone is None and not a.sender_pool
        agent = make_user(s, a, full_name="Ann Agent")
        lead_a = make_lead(
            s,
            a,
            phone=PHONE,
            timezone="America/Chicago",
            consent_sms=True,
            assigned_user_id=agent.id,
        )
        # The same person is a lead of Denver too, never texted from there.
        lead_b = make_lead(s, b, phone=PHONE, timezone="America/Chicago", consent_sms=True)
        other_b = make_lead(s, b, phone=OTHER, timezone="America/Chicago", consent_sms=True)
        admin = make_user(s, a, role=Role.ADMIN, full_name="Ada Admin")
        ids = {
            "a": a.id,
            "b": b.id,
            "lead_a": lead_a.id,
            "lead_b": lead_b.id,
            "other_b": other_b.id,
            "agent": agent.id,
            "admin": admin.id,
        }
    clock = Clock()
    dispatcher = Dispatcher("test-worker", clock=clock, pacer=Pacer())
    with TestClient(create_api()) as client:
        yield ids, client, dispatcher, clock
    dispatcher.close()


def _queue(lead_id: int, body: str, key: str, clock, category=MessageCategory.MARKETING) -> int:
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        return outbox.enqueue(
            s,
            lead=lead,
            channel=Channel.SMS,
            body=body,
            category=category,
            idempotency_key=key,
            now=clock(),
        ).id


def _text_in(client, body: str, *, sender: str = PHONE, sid: str = "SM" + "1" * 32, to=SENDER):
    params = {
        "MessageSid": sid,
        "From": sender,
        "To": to,
        "Body": body,
        "AccountSid": "AC" + "0" * 32,
    }
    path = "/api/v1/webhooks/twilio/sms"
    signature = RequestValidator("test-auth-token").compute_signature(f"{BASE}{path}", params)
    answer = client.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert answer.status_code == 200 and answer.text.endswith("<Response/>")
    return answer


def _lead(lead_id: int) -> Lead:
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        s.expunge(lead)
        return lead


def _first_text_from_austin(ids, dispatcher, clock, providers) -> None:
    _queue(ids["lead_a"], "Hi, this is Austin. Still looking?", "a-1", clock)
    assert dispatcher.drain().sent == 1
    [sent] = providers.twilio.messages
    assert sent["From"] == SENDER and sent["To"] == PHONE


def test_stop_to_the_shared_number_stops_every_office_at_once(shared, providers) -> None:
    ids, client, dispatcher, clock = shared
    _first_text_from_austin(ids, dispatcher, clock, providers)
    _text_in(client, "STOP")
    assert _lead(ids["lead_a"]).opted_out_sms  # the office that texted
    assert _lead(ids["lead_b"]).opted_out_sms  # and every other office on that number
    with session_scope() as s:
        # Denver has the phone on its list (a lead imported later is not texted either);
        # Austin's lead itself is opted out.
        assert is_suppressed(s, tenant_id=ids["b"], channel=Channel.SMS, address=PHONE)
        inbound = s.execute(select(Message).where(Message.direction == "inbound")).scalar_one()
        assert inbound.tenant_id == ids["a"] and inbound.lead_id == ids["lead_a"]
    # A recovery text triggered 2 s later, in either office, is blocked, not sent.
    clock.advance(seconds=2)
    blocked = [
        _queue(ids["lead_a"], "Last chance!", "a-2", clock),
        _queue(ids["lead_b"], "Denver here!", "b-1", clock),
    ]
    dispatcher.drain()
    assert len(providers.twilio.messages) == 1
    with session_scope() as s:
        assert {s.get(Message, i).status for i in blocked} == {MessageStatus.SUPPRESSED}


def _tenant(s, tenant_id):
    return s.get(Tenant, tenant_id)


def test_start_undoes_what_stop_to_that_number_did(shared, providers) -> None:
    ids, client, dispatcher, clock = shared
    _first_text_from_austin(ids, dispatcher, clock, providers)
    _text_in(client, "STOP", sid="SM" + "2" * 32)
    _text_in(client, "START", sid="SM" + "3" * 32)
    assert not _lead(ids["lead_a"]).opted_out_sms and not _lead(ids["lead_b"]).opted_out_sms
    with session_scope() as s:
        for office in ("a", "b"):
            assert not is_suppressed(s, tenant_id=ids[office], channel=Channel.SMS, address=PHONE)
    _queue(ids["lead_a"], "Welcome back!", "a-3", clock)
    assert dispatcher.drain().sent == 1


def test_an_ordinary_reply_reaches_the_office_that_texted(shared, providers) -> None:
    ids, client, dispatcher, clock = shared
    with session_scope() as s:
        campaign = Campaign(tenant_id=ids["a"], name="Nurture")
        s.add(campaign)
        s.flush()
        s.add(
            Enrollment(
                tenant_id=ids["a"],
                lead_id=ids["lead_a"],
                campaign_id=campaign.id,
                next_run_at=datetime.now(UTC),
            )
        )
    _first_text_from_austin(ids, dispatcher, clock, providers)
    _text_in(client, "Yes still looking, call me after 5")
    lead_a = _lead(ids["lead_a"])
    assert lead_a.status == LeadStatus.ENGAGED and lead_a.last_inbound_at is not None
    assert _lead(ids["lead_b"]).last_inbound_at is None  # Denver's lead is another thread
    with session_scope() as s:
        assert s.execute(select(Enrollment.status)).scalar_one() == EnrollmentStatus.STOPPED
        notified = s.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == ids["agent"], Notification.lead_id == ids["lead_a"])
        ).scalar_one()
        assert notified >= 1


def test_a_phone_never_texted_goes_to_the_office_whose_lead_it_is(shared, providers) -> None:
    ids, client, _, _ = shared
    _text_in(client, "Is the house on Elm still for sale?", sender=OTHER)
    assert _lead(ids["other_b"]).last_inbound_at is not None
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(UnmatchedText)).scalar_one() == 0


def test_a_text_no_office_fits_is_kept_for_an_admin_to_assign(shared, providers) -> None:
    ids, client, _, clock = shared
    stranger = "+15125550199"
    _text_in(client, "Hi, who is this? Saw your sign on Lamar", sender=stranger)
    admin = Viewer(tenant_id=ids["a"], user_id=ids["admin"], role=Role.ADMIN, name="Ada")
    agent = Viewer(tenant_id=ids["a"], user_id=ids["agent"], role=Role.AGENT, name="Ann")
    with session_scope() as s:
        assert unmatched.open_count(s, viewer=admin) == 1
        assert unmatched.open_count(s, viewer=agent) == 0
        with pytest.raises(Forbidden):
            unmatched.open_texts(s, viewer=agent)
        [row] = unmatched.open_texts(s, viewer=admin)
        assert row.from_phone == stranger and "Lamar" in row.body
        lead_id = unmatched.assign(s, viewer=admin, text_id=row.id, tenant_id=ids["b"], now=clock())
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        assert lead.tenant_id == ids["b"] and lead.phone == stranger
        assert unmatched.open_count(s, viewer=admin) == 0
        message = s.execute(select(Message).where(Message.lead_id == lead_id)).scalar_one()
        assert "Lamar" in message.body
    # The same text posted again (Twilio retries) changes nothing.
    _text_in(client, "Hi, who is this? Saw your sign on Lamar", sender=stranger)
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(UnmatchedText)).scalar_one() == 1


def test_a_stop_no_office_fits_is_honoured_on_the_number(shared, providers) -> None:
    ids, client, dispatcher, clock = shared
    stranger = "+15125550166"
    _text_in(client, "please stop texting me", sender=stranger)
    with session_scope() as s:
        for office in ("a", "b"):
            assert is_suppressed(s, tenant_id=ids[office], channel=Channel.SMS, address=stranger)
        lead = make_lead(
            s, _tenant(s, ids["a"]), phone=stranger, consent_sms=True, timezone="America/Chicago"
        )
        lead_id = lead.id
    message_id = _queue(lead_id, "Hi there!", "s-1", clock)
    dispatcher.drain()
    assert providers.twilio.bodies_to(stranger) == []
    with session_scope() as s:
        assert s.get(Message, message_id).status == MessageStatus.SUPPRESSED


def test_an_opt_out_in_words_is_confirmed_once_with_nothing_else(shared, providers) -> None:
    ids, client, dispatcher, clock = shared
    _first_text_from_austin(ids, dispatcher, clock, providers)
    _text_in(client, "Please stop texting me", sid="SM" + "4" * 32)
    _text_in(client, "I said stop texting me!", sid="SM" + "5" * 32)
    clock.now = datetime.now(UTC)  # the confirmation was queued as the text came in
    dispatcher.drain()
    confirmations = [b for b in providers.twilio.bodies_to(PHONE) if "unsubscribed" in b]
    assert len(confirmations) == 1  # one, though two offices opted the phone out
    [confirmation] = confirmations
    assert "http" not in confirmation and "%" not in confirmation and "$" not in confirmation
    assert confirmation.startswith("Austin:") and "START" in confirmation


def test_a_pool_of_shared_numbers_keeps_each_lead_on_one(shared, providers, monkeypatch) -> None:
    from recovery_app.settings import reload_settings

    pool = ["+15125550101", "+15125550102", "+15125550103"]
    monkeypatch.setenv("TWILIO_FROM_NUMBERS", ",".join(pool))
    reload_settings()
    ids, client, dispatcher, clock = shared
    with session_scope() as s:
        phones = [
            make_lead(
                s,
                _tenant(s, ids["a"]),
                phone=f"+1512555{2000 + i}",
                consent_sms=True,
                timezone="America/Chicago",
            ).id
            for i in range(30)
        ]
    for n, lead_id in enumerate(phones):
        _queue(lead_id, "Hello", f"pool-{n}", clock)
        _queue(lead_id, "Hello again", f"pool-again-{n}", clock)
    assert dispatcher.drain().sent == 60
    by_phone: dict[str, set[str]] = {}
    for sent in providers.twilio.messages:
        by_phone.setdefault(sent["To"], set()).add(sent["From"])
    assert all(len(numbers) == 1 for numbers in by_phone.values())  # one number per lead
    used = set().union(*by_phone.values())
    assert used <= {SENDER, *pool} and len(used) >= 3  # spread over the pool
    # A reply to the number a lead was texted from finds its office.
    phone, (number,) = next(iter(by_phone.items()))
    _text_in(client, "Who's this?", sender=phone, to=number, sid="SM" + "6" * 32)
    with session_scope() as s:
        reply = s.execute(select(Message).where(Message.direction == "inbound")).scalar_one()
        assert reply.tenant_id == ids["a"] and reply.to_address == number


def test_the_messaging_services_pick_is_recorded_for_replies(shared, providers, monkeypatch):
    from recovery_app.settings import reload_settings

    monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", "MG" + "0" * 32)
    reload_settings()
    ids, client, dispatcher, clock = shared
    message_id = _queue(ids["lead_a"], "Hi from the service", "svc-1", clock)
    assert dispatcher.drain().sent == 1
    [sent] = providers.twilio.messages
    assert sent.get("MessagingServiceSid") == "MG" + "0" * 32
    with session_scope() as s:
        message = s.get(Message, message_id)
        picked = message.from_address if (message.from_address or "").startswith("+") else None
        sid = message.provider_id
    if picked is None:  # the fake answered without a number: the callback names it
        params = {
            "MessageSid": sid,
            "MessageStatus": "delivered",
            "From": "+15125550109",
            "To": PHONE,
            "AccountSid": "AC" + "0" * 32,
        }
        path = "/api/v1/webhooks/twilio/status"
        signature = RequestValidator("test-auth-token").compute_signature(f"{BASE}{path}", params)
        client.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )
        picked = "+15125550109"
    with session_scope() as s:
        assert s.get(Message, message_id).from_address == picked
    _text_in(client, "Sounds good", to=picked, sid="SM" + "7" * 32)
    assert _lead(ids["lead_a"]).last_inbound_at is not None
