from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest

from recovery_app.db import session_scope
from recovery_app.messaging import outbox
from recovery_app.messaging.dispatcher import Dispatcher
from recovery_app.messaging.pacing import Pacer
from recovery_app.models import Channel, Lead, MessageCategory, Tenant
from recovery_app.settings import reload_settings
from tests.factories import make_lead, make_tenant
from tests.fakes.providers import FakeSendGrid, FakeTwilio

SENDER = "+15125550100"
LEAD_PHONE = "+15125550123"
# Monday 2 November 2026, 12:00 in Chicago (CST): inside every sending window.
NOON = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)


@dataclass
class Providers:
    twilio: FakeTwilio
    sendgrid: FakeSendGrid


@pytest.fixture
def providers(monkeypatch) -> Iterator[Providers]:
    twilio, sendgrid = FakeTwilio(), FakeSendGrid()
    env = {
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "test-auth-token",
        "TWILIO_FROM_NUMBER": SENDER,
        "TWILIO_API_BASE_URL": twilio.url,
        "SENDGRID_API_KEY": "SG.test-key",
        "SENDGRID_FROM_EMAIL": "team@office.example",
        "SENDGRID_API_BASE_URL": sendgrid.url,
        "PROVIDER_TIMEOUT_SECONDS": "1",
        # Not the default (1): these tests send several marketing texts from one number in a
        # row, and pacing would stretch each into seconds of waiting. Pacing has tests of its
        # own at the default (test_pacing.py, the burst test in test_dispatcher.py).
        "SMS_PER_SECOND_PER_NUMBER": "0",
        "APP_BASE_URL": "https://leads.example.com",
        "SECRET_KEY": "test-secret-key",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    yield Providers(twilio, sendgrid)
    twilio.close()
    sendgrid.close()
    monkeypatch.undo()
    reload_settings()


class Clock:
    def __init__(self, now: datetime = NOON):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Office:
    tenant_id: int
    lead_id: int
    clock: Clock
    dispatcher: Dispatcher

    def lead(self, session) -> Lead:
        return session.get(Lead, self.lead_id)

    def queue(
        self,
        channel: Channel = Channel.SMS,
        body: str = "Hi Ana, still looking?",
        *,
        category: MessageCategory | str = MessageCategory.MARKETING,
        key: str | None = None,
        subject: str | None = None,
        lead_id: int | None = None,
    ) -> int:
        with session_scope() as session:
            lead = session.get(Lead, lead_id or self.lead_id)
            message = outbox.enqueue(
                session,
                lead=lead,
                channel=channel,
                body=body,
                category=category,
                subject=subject or ("Hello" if channel == Channel.EMAIL else None),
                idempotency_key=key or f"test:{datetime.now().timestamp()}:{body}",
                now=self.clock(),
            )
            session.flush()
            return message.id


@pytest.fixture
def office(app_database, providers) -> Office:
    with session_scope() as session:
        tenant = make_tenant(
            session,
            name="Harbor Office",
            timezone="America/Chicago",
            sender_phone=SENDER,
            sender_email="austin@office.example",
            sender_name="Harbor Office",
            postal_address="1 Main St, Austin, TX 78701",
            quiet_hours_start=time(21),
            quiet_hours_end=time(8),
        )
        lead = make_lead(
            session,
            tenant,
            first_name="Ana",
            phone=LEAD_PHONE,
            email="ana@example.com",
            timezone="America/Chicago",
            consent_sms=True,
            consent_email=True,
        )
        ids = (tenant.id, lead.id)
    clock = Clock()
    return Office(ids[0], ids[1], clock, Dispatcher("test-worker", clock=clock, pacer=Pacer()))


def tenant_of(session, office: Office) -> Tenant:
    return session.get(Tenant, office.tenant_id)
