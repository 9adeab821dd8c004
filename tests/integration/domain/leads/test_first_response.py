"""Speed to lead: the instant first SMS and email, from the tenant's templates or the library,
queued once per lead and channel, then held or blocked by the compliance guard like any send."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.domain.leads.first_response import (
    queue_first_response,
    template_for,
    variables,
)
from recovery_app.models import (
    Channel,
    Lead,
    Message,
    MessageCategory,
    MessageStatus,
    Template,
    Tenant,
)
from tests.factories import NOW, make_lead, make_tenant, make_user
from tests.integration.conftest import LEAD_PHONE

CEDAR = {"property_interest": "4410 Cedar Ln", "city": "Austin"}


@pytest.fixture
def harbor(session):
    tenant = make_tenant(session, name="Harbor Office - Austin")
    agent = make_user(session, tenant, full_name="Marcus Reyes")
    return tenant, agent


def new_lead(session, tenant, agent=None, **fields) -> Lead:
    return make_lead(
        session,
        tenant,
        **(
            {
                "first_name": "Maria",
                "last_name": "Lopez",
                "source": "web_form",
                "assigned_user_id": agent.id if agent else None,
                "attributes": CEDAR,
            }
            | fields
        ),
    )


def own_template(session, tenant, situation: str, channel: Channel, body: str, subject=None):
    template = Template(
        tenant_id=tenant.id,
        channel=channel,
        name=situation,
        situation=situation,
        body=body,
        subject=subject,
    )
    session.add(template)
    session.flush()
    return template


def queued(session, lead: Lead) -> dict[Channel, Message]:
    rows = session.execute(select(Message).where(Message.lead_id == lead.id)).scalars().all()
    found = {Channel(m.channel): m for m in rows}
    assert len(found) == len(rows), "one message per channel"
    return found


def test_the_builtin_templates_when_the_tenant_has_none(session, harbor) -> None:
    tenant, agent = harbor
    lead = new_lead(session, tenant, agent)

    assert queue_first_response(session, lead=lead, tenant=tenant, now=NOW) == 2

    sent = queued(session, lead)
    sms, email = sent[Channel.SMS], sent[Channel.EMAIL]
    assert sms.body == (
        "Hi Maria, this is Marcus with Harbor Office. Thanks for asking about 4410 Cedar Ln! "
        "When is a good time for a quick call? Reply STOP to opt out."
    )
    assert email.subject == "Your inquiry about 4410 Cedar Ln"
    assert email.body.startswith("Hi Maria,\n\nThanks for reaching out about 4410 Cedar Ln.")
    assert "I'm Marcus Reyes and I'll be your point of contact at Harbor Office." in email.body
    for channel, message in sent.items():
        template = session.get(Template, message.template_id)
        assert template.is_builtin and template.tenant_id is None
        assert (template.situation, template.channel) == ("new_web_lead", channel)
        assert message.idempotency_key == f"first-response:{lead.id}:{channel}"
        assert message.category == MessageCategory.AUTOMATED
        assert message.status == MessageStatus.QUEUED and message.next_attempt_at == NOW
        assert message.tenant_id == tenant.id and "{{" not in message.body
    assert (sms.to_address, email.to_address) == (lead.phone, lead.email)


def test_open_house_visitors_get_the_open_house_templates(session, harbor) -> None:
    tenant, agent = harbor
    lead = new_lead(session, tenant, agent, source="open_house")
    queue_first_response(session, lead=lead, tenant=tenant, now=NOW)
    sent = queued(session, lead)
    assert "Great to meet you at 4410 Cedar Ln!" in sent[Channel.SMS].body
    assert sent[Channel.EMAIL].subject == "Thanks for visiting 4410 Cedar Ln"


def test_the_tenants_first_response_template_overrides_the_library(session, harbor) -> None:
    tenant, agent = harbor
    mine = own_template(
        session,
        tenant,
        "first_response",
        Channel.SMS,
        "{{first_name}}, {{agent_name}} ({{company_name}}) here about {{city}}. Reply STOP to opt out.",
    )
    # Another tenant's template is never used here.
    stranger = make_tenant(session)
    own_template(session, stranger, "first_response", Channel.EMAIL, "Not yours", subject="No")
    lead = new_lead(session, tenant, agent)

    queue_first_response(session, lead=lead, tenant=tenant, now=NOW)

    sent = queued(session, lead)
    assert sent[Channel.SMS].template_id == mine.id
    assert sent[Channel.SMS].body == (
        "Maria, Marcus Reyes (Harbor Office) here about Austin. Reply STOP to opt out."
    )
    email_template = session.get(Template, sent[Channel.EMAIL].template_id)
    assert email_template.is_builtin  # no email template of its own: the library's
    assert "Not yours" not in sent[Channel.EMAIL].body


def test_a_source_template_overrides_for_that_source_only(session, harbor) -> None:
    tenant, agent = harbor
    general = own_template(session, tenant, "first_response", Channel.SMS, "General {{first_name}}")
    zillow = own_template(
        session,
        tenant,
        "first_response:zillow",
        Channel.EMAIL,
        "Saw you on Zillow, {{first_name}}",
        subject="About {{property_interest}} on Zillow",
    )
    zillow_sms = own_template(
        session, tenant, "first_response:zillow", Channel.SMS, "Zillow {{first_name}}"
    )
    from_zillow = new_lead(session, tenant, agent, source="zillow")
    from_web = new_lead(session, tenant, agent, source="web_form")

    for lead in (from_zillow, from_web):
        queue_first_response(session, lead=lead, tenant=tenant, now=NOW)

    zillow_sent, web_sent = queued(session, from_zillow), queued(session, from_web)
    assert (zillow_sent[Channel.SMS].template_id, zillow_sent[Channel.SMS].body) == (
        zillow_sms.id,
        "Zillow Maria",
    )
    assert zillow_sent[Channel.EMAIL].template_id == zillow.id
    assert zillow_sent[Channel.EMAIL].subject == "About 4410 Cedar Ln on Zillow"
    assert (web_sent[Channel.SMS].template_id, web_sent[Channel.SMS].body) == (
        general.id,
        "General Maria",
    )
    assert session.get(Template, web_sent[Channel.EMAIL].template_id).is_builtin
    assert template_for(session, tenant=tenant, source="zillow", channel=Channel.SMS) is zillow_sms


def test_variables_and_their_fallbacks(session, harbor) -> None:
    tenant, agent = harbor
    tenant.sender_name = "Harbor Realty - Downtown"
    assigned = new_lead(session, tenant, agent, attributes={"address": "9 Oak St"})
    assert variables(session, assigned, tenant) == {
        "first_name": "Maria",
        "last_name": "Lopez",
        "agent_name": "Marcus Reyes",
        "agent_first_name": "Marcus",
        "company_name": "Harbor Realty",
        "property_interest": "9 Oak St",
        "city": None,
        "open_house_address": "9 Oak St",
        "booking_link": None,  # Marcus has no booking link (test_booking_link.py)
    }
    nobody = new_lead(session, tenant, first_name="", last_name="", attributes={})
    values = variables(session, nobody, tenant)
    assert values["first_name"] is None and values["agent_name"] is None
    assert values["property_interest"] is None

    queue_first_response(session, lead=nobody, tenant=tenant, now=NOW)

    sms = queued(session, nobody)[Channel.SMS]
    assert sms.body.startswith(
        "Hi there, this is our team with Harbor Realty. Thanks for asking about your home search!"
    )


def test_queued_once_per_lead_and_channel(session, harbor) -> None:
    tenant, agent = harbor
    lead = new_lead(session, tenant, agent)
    queue_first_response(session, lead=lead, tenant=tenant, now=NOW)
    first = {c: m.id for c, m in queued(session, lead).items()}
    queue_first_response(session, lead=lead, tenant=tenant, now=NOW + timedelta(minutes=5))
    assert {c: m.id for c, m in queued(session, lead).items()} == first


@pytest.mark.parametrize(
    ("contact", "channels"),
    [
        ({"email": None}, [Channel.SMS]),
        ({"phone": None}, [Channel.EMAIL]),
        ({"phone": None, "email": None}, []),
    ],
)
def test_only_the_channels_the_lead_gave(session, harbor, contact, channels) -> None:
    tenant, agent = harbor
    lead = new_lead(session, tenant, agent, **contact)
    assert queue_first_response(session, lead=lead, tenant=tenant, now=NOW) == len(channels)
    assert sorted(queued(session, lead)) == sorted(channels)


# ------------------------------------------------------------------ through the dispatcher
def queue_for(office, **changes) -> dict[Channel, int]:
    with session_scope() as s:
        lead = s.get(Lead, office.lead_id)
        for name, value in changes.items():
            setattr(lead, name, value)
        queue_first_response(
            s, lead=lead, tenant=s.get(Tenant, office.tenant_id), now=office.clock()
        )
        s.flush()
        return {Channel(m.channel): m.id for m in queued(s, lead).values()}


def stored(message_id: int) -> Message:
    with session_scope() as s:
        row = s.get(Message, message_id)
        s.expunge(row)
        return row


def test_at_night_the_text_waits_for_the_morning_and_the_email_goes(office, providers) -> None:
    office.clock.now = office.clock.now.replace(hour=3, minute=40)  # 21:40 in Chicago
    ids = queue_for(office)

    stats = office.dispatcher.drain()

    assert (stats.sent, stats.held) == (1, 1) and providers.twilio.messages == []
    assert len(providers.sendgrid.mails) == 1
    sms = stored(ids[Channel.SMS])
    assert sms.status == MessageStatus.QUEUED and sms.hold_reason.startswith(
        "21:40 in America/Chicago - TX rule quiet hours"
    )
    # 09:00 in Chicago the next morning (Texas's rule for an Austin number: 15:00 UTC, the
    # same UTC date).
    assert sms.next_attempt_at == office.clock.now.replace(hour=15, minute=0)
    office.clock.now = sms.next_attempt_at
    assert office.dispatcher.drain().sent == 1
    [text] = providers.twilio.bodies_to(LEAD_PHONE)
    assert text.startswith("Hi Ana, this is our team with Harbor Office.")
    assert text.count("Reply STOP to opt out.") == 1
    assert stored(ids[Channel.SMS]).status == MessageStatus.SENT


def test_no_consent_or_an_opt_out_blocks_the_first_response(office, providers) -> None:
    ids = queue_for(office, consent_sms=False, opted_out_email=True)

    stats = office.dispatcher.drain()

    assert stats.blocked == 2 and stats.sent == 0
    assert providers.twilio.attempts == 0 and providers.sendgrid.attempts == 0
    sms, email = stored(ids[Channel.SMS]), stored(ids[Channel.EMAIL])
    assert (sms.status, sms.error_code) == (MessageStatus.SUPPRESSED, "no_consent")
    assert (email.status, email.error_code) == (MessageStatus.SUPPRESSED, "opted_out")
