"""Notifications: in-app for everyone, a text or email too when the tenant wants alerts, and
each person only ever sees their own."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.notifications import service as notifications
from recovery_app.models import (
    Channel,
    Direction,
    Message,
    MessageCategory,
    MessageStatus,
    Notification,
    Role,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, viewer_for


def notes_of(session, user) -> list[Notification]:
    return list(
        session.execute(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        ).scalars()
    )


def messages(session) -> list[Message]:
    return list(session.execute(select(Message).order_by(Message.id)).scalars())


@pytest.fixture
def office(session):
    tenant = make_tenant(session)
    agent = make_user(session, tenant, full_name="Ana Agent", phone="+15125550100")
    return tenant, agent


def test_notify_records_an_in_app_notification_only_by_default(session, office) -> None:
    tenant, agent = office
    lead = make_lead(session, tenant)
    note = notifications.notify(
        session,
        user=agent,
        kind="assigned",
        title="New lead: Maria Lopez",
        body="hot lead from referral, score 85.",
        lead_id=lead.id,
        now=NOW,
    )
    [stored] = notes_of(session, agent)
    assert stored is note
    assert (stored.tenant_id, stored.kind, stored.lead_id, stored.created_at) == (
        tenant.id,
        "assigned",
        lead.id,
        NOW,
    )
    assert stored.title == "New lead: Maria Lopez" and stored.read_at is None
    assert messages(session) == []  # the tenant does not send alerts


def test_long_titles_and_bodies_are_cut_to_fit(session, office) -> None:
    _, agent = office
    note = notifications.notify(
        session, user=agent, kind="k", title="t" * 300, body="b" * 900, now=NOW
    )
    assert (len(note.title), len(note.body)) == (200, 500)


def test_alerts_go_by_text_and_email_once_per_dedupe_key(session, office) -> None:
    tenant, agent = office
    tenant.notify_agents_sms = tenant.notify_agents_email = True
    for _ in range(2):
        notifications.notify(
            session,
            user=agent,
            kind="escalation",
            title="Hot lead untouched",
            body="Score 90.",
            now=NOW,
            dedupe_key="escalation:7",
        )
    sent = messages(session)
    assert [(m.channel, m.to_address, m.idempotency_key) for m in sent] == [
        (Channel.SMS, "+15125550100", "escalation:7:sms"),
        (Channel.EMAIL, agent.email, "escalation:7:email"),
    ]
    for message in sent:
        assert message.category == MessageCategory.INTERNAL and message.lead_id is None
        assert message.recipient_user_id == agent.id and message.tenant_id == tenant.id
        assert message.direction == Direction.OUTBOUND and message.status == MessageStatus.QUEUED
        assert message.body == "Hot lead untouched. Score 90." and message.next_attempt_at == NOW
    assert sent[1].subject == "Hot lead untouched"
    # A different cause is a different alert.
    notifications.notify(session, user=agent, kind="escalation", title="Another", now=NOW)
    assert len(messages(session)) == 4


def test_without_a_dedupe_key_each_notification_alerts_once(session, office) -> None:
    tenant, agent = office
    tenant.notify_agents_sms = True
    first = notifications.notify(session, user=agent, kind="k", title="One", now=NOW)
    second = notifications.notify(session, user=agent, kind="k", title="Two", now=NOW)
    assert [m.idempotency_key for m in messages(session)] == [
        f"note:{first.id}:sms",
        f"note:{second.id}:sms",
    ]
    assert [m.body for m in messages(session)] == ["One.", "Two."]


def test_each_channel_needs_its_switch_and_an_address(session, office) -> None:
    tenant, agent = office
    no_phone = make_user(session, tenant, phone=None)
    tenant.notify_agents_email = True  # email only
    notifications.notify(session, user=agent, kind="k", title="A", now=NOW, dedupe_key="a")
    notifications.notify(session, user=no_phone, kind="k", title="B", now=NOW, dedupe_key="b")
    assert [(m.recipient_user_id, m.channel) for m in messages(session)] == [
        (agent.id, Channel.EMAIL),
        (no_phone.id, Channel.EMAIL),
    ]
    tenant.notify_agents_email, tenant.notify_agents_sms = False, True
    notifications.notify(session, user=no_phone, kind="k", title="C", now=NOW, dedupe_key="c")
    assert len(messages(session)) == 2  # no number to text


def test_a_text_alert_is_kept_short(session, office) -> None:
    tenant, agent = office
    tenant.notify_agents_sms = True
    notifications.notify(session, user=agent, kind="k", title="T", body="x" * 490, now=NOW)
    [sms] = messages(session)
    assert len(sms.body) == 300 and sms.body.startswith("T. xxx")


def test_inactive_users_get_no_text_or_email(session, office) -> None:
    tenant, agent = office
    tenant.notify_agents_sms = tenant.notify_agents_email = True
    agent.active = False
    notifications.notify(session, user=agent, kind="k", title="Gone", now=NOW, dedupe_key="g")
    assert len(notes_of(session, agent)) == 1 and messages(session) == []


def test_notify_managers_reaches_the_active_managers_of_the_tenant_only(session, office) -> None:
    tenant, agent = office
    tenant.notify_agents_email = True
    managers = [make_user(session, tenant, role=Role.MANAGER) for _ in range(2)]
    retired = make_user(session, tenant, role=Role.MANAGER, active=False)
    elsewhere = make_user(session, make_tenant(session), role=Role.MANAGER)
    lead = make_lead(session, tenant)

    reached = notifications.notify_managers(
        session,
        tenant_id=tenant.id,
        kind="unrouted",
        title="A lead is waiting",
        lead_id=lead.id,
        now=NOW,
        dedupe_key=f"unrouted:{lead.id}",
    )

    assert reached == 2
    for manager in managers:
        [note] = notes_of(session, manager)
        assert (note.kind, note.lead_id) == ("unrouted", lead.id)
    assert notes_of(session, retired) == notes_of(session, elsewhere) == []
    assert notes_of(session, agent) == []
    assert sorted((m.recipient_user_id, m.idempotency_key) for m in messages(session)) == sorted(
        (m.id, f"unrouted:{lead.id}:{m.id}:email") for m in managers
    )
    # Told again about the same lead: no second email to anyone.
    notifications.notify_managers(
        session,
        tenant_id=tenant.id,
        kind="unrouted",
        title="A lead is waiting",
        now=NOW,
        dedupe_key=f"unrouted:{lead.id}",
    )
    assert len(messages(session)) == 2


# ------------------------------------------------------------------------------ reading
@pytest.fixture
def inboxes(session, office):
    """Ana has three notifications; a colleague and someone in another tenant have their own."""
    tenant, agent = office
    colleague = make_user(session, tenant)
    stranger = make_user(session, make_tenant(session))
    for n in range(3):
        notifications.notify(
            session, user=agent, kind="k", title=f"Ana {n}", now=NOW + timedelta(minutes=n)
        )
    notifications.notify(session, user=colleague, kind="k", title="Colleague", now=NOW)
    notifications.notify(session, user=stranger, kind="k", title="Stranger", now=NOW)
    return tenant, agent, colleague, stranger


def test_each_viewer_counts_and_sees_only_their_own(session, inboxes) -> None:
    tenant, agent, colleague, stranger = inboxes
    ana = viewer_for(agent, tenant)
    assert notifications.unread_count(session, viewer=ana) == 3
    seen = notifications.recent(session, viewer=ana)
    assert [n.title for n in seen] == ["Ana 2", "Ana 1", "Ana 0"]  # newest first
    assert not any(n.read for n in seen)
    assert [n.title for n in notifications.recent(session, viewer=viewer_for(colleague))] == [
        "Colleague"
    ]
    assert notifications.unread_count(session, viewer=viewer_for(stranger)) == 1
    # A viewer without a user (an API key) has no notifications at all.
    keyed = viewer_for(agent, tenant, user_id=None)
    assert notifications.unread_count(session, viewer=keyed) == 0
    assert notifications.recent(session, viewer=keyed) == []


def test_recent_stays_inside_the_viewers_tenant(session, inboxes) -> None:
    tenant, agent, _, stranger = inboxes
    # An admin acting in another tenant does not see their home tenant's notifications there.
    visiting = viewer_for(agent, tenant, tenant_id=stranger.tenant_id)
    assert notifications.recent(session, viewer=visiting) == []


def test_recent_is_one_page(session, office) -> None:
    _, agent = office
    for n in range(notifications.PAGE + 5):
        notifications.notify(session, user=agent, kind="k", title=str(n), now=NOW)
    seen = notifications.recent(session, viewer=viewer_for(agent))
    assert len(seen) == notifications.PAGE and seen[0].title == str(notifications.PAGE + 4)


def test_mark_all_read_touches_only_the_viewers_notifications(session, inboxes) -> None:
    tenant, agent, colleague, stranger = inboxes
    ana = viewer_for(agent, tenant)
    later = NOW + timedelta(hours=1)
    notifications.mark_all_read(session, viewer=ana, now=later)
    session.expire_all()
    assert notifications.unread_count(session, viewer=ana) == 0
    assert all(n.read for n in notifications.recent(session, viewer=ana))
    assert {n.read_at for n in notes_of(session, agent)} == {later}
    assert notifications.unread_count(session, viewer=viewer_for(colleague)) == 1
    assert notifications.unread_count(session, viewer=viewer_for(stranger)) == 1
    # Marking again keeps the first read time; a new notification is unread.
    notifications.mark_all_read(session, viewer=ana, now=later + timedelta(hours=1))
    notifications.notify(session, user=agent, kind="k", title="New", now=later)
    session.expire_all()
    assert {n.read_at for n in notes_of(session, agent)} == {later, None}
    assert notifications.unread_count(session, viewer=ana) == 1
    # Without a user there is nothing to mark.
    notifications.mark_all_read(session, viewer=viewer_for(agent, user_id=None), now=later)
    assert notifications.unread_count(session, viewer=ana) == 1


def test_the_unread_count_matches_the_list_in_another_tenant(session, inboxes) -> None:
    tenant, agent, _, stranger = inboxes
    visiting = viewer_for(agent, tenant, tenant_id=stranger.tenant_id)
    unread = [n for n in notifications.recent(session, viewer=visiting) if not n.read]
    assert notifications.unread_count(session, viewer=visiting) == len(unread)
