"""Send-time optimisation in the engine (SQLite and PostgreSQL): a campaign that asks for the
suggested window sends in the hours the office's leads answer most, one that does not keeps its
own window, and without enough history the chosen window is used."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.domain.campaigns.schemas import SendWindow
from recovery_app.domain.campaigns.send_time import suggested_window
from recovery_app.domain.campaigns.sweep import run_sweep
from recovery_app.models import (
    Channel,
    Direction,
    Enrollment,
    LeadStatus,
    Message,
    MessageStatus,
)
from tests.factories import NOW, make_lead, make_tenant, manager_of

CHICAGO = ZoneInfo("America/Chicago")
EVERY_HOUR = {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"}
_keys = itertools.count(1)


def history(session, tenant) -> None:
    """Last week's texts in Chicago: Tue-Thu at 17:30 nine of ten answered; Mon-Fri at 10:30,
    16:30 and 19:30 hardly anyone did. The best two hours are Tue-Thu 17:00-19:00."""
    lead = make_lead(session, tenant, status=LeadStatus.ENGAGED, timezone="America/Chicago")
    monday = datetime(2026, 10, 26, tzinfo=CHICAGO)
    slots = [(day, 17, 30, 10, 9) for day in (1, 2, 3)]
    slots += [
        (day, hour, 30, 10, 1 if hour == 10 else 0) for day in range(5) for hour in (10, 16, 19)
    ]
    for day, hour, minute, sends, replies in slots:
        local = monday + timedelta(days=day, hours=hour, minutes=minute)
        at = local.astimezone(UTC)
        for n in range(sends):
            session.add(
                Message(
                    tenant_id=tenant.id,
                    lead_id=lead.id,
                    channel=Channel.SMS,
                    direction=Direction.OUTBOUND,
                    status=MessageStatus.DELIVERED,
                    body="Hi",
                    idempotency_key=f"history:{next(_keys)}",
                    created_at=at,
                    updated_at=at,
                    sent_at=at,
                    replied_at=at + timedelta(minutes=9) if n < replies else None,
                )
            )
    session.flush()


def test_the_suggestion_is_the_hours_that_answer_most(session) -> None:
    tenant = make_tenant(session, timezone="America/Chicago")
    assert suggested_window(session, tenant_id=tenant.id, channel="sms", now=NOW) is None
    history(session, tenant)
    found = suggested_window(session, tenant_id=tenant.id, channel="sms", now=NOW)
    assert found is not None and found.label == "Tue-Thu 17:00-19:00"
    # Emails have no history of their own: the office's replies over every channel decide.
    assert suggested_window(session, tenant_id=tenant.id, channel="email", now=NOW) == found
    assert (
        suggested_window(session, tenant_id=make_tenant(session).id, channel="sms", now=NOW) is None
    )


def _setup(make_campaign, *, optimize: bool, with_history: bool) -> int:
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago")
        if with_history:
            history(s, tenant)
        make_lead(s, tenant, status=LeadStatus.SILENT, timezone="America/Chicago")
        window = SendWindow(**EVERY_HOUR, optimize=optimize)
        return make_campaign(s, manager_of(tenant), send_window=window).id


def _campaign_messages(campaign_id: int) -> list[Message]:
    with session_scope() as s:
        return list(s.execute(select(Message).where(Message.campaign_id == campaign_id)).scalars())


def _enrollment(campaign_id: int) -> Enrollment:
    with session_scope() as s:
        return s.execute(
            select(Enrollment).where(Enrollment.campaign_id == campaign_id)
        ).scalar_one()


def test_the_engine_sends_optimised_steps_in_the_suggested_window(app_database, make_campaign):
    optimised = _setup(make_campaign, optimize=True, with_history=True)
    chosen = _setup(make_campaign, optimize=False, with_history=True)

    # NOW is Sunday 09:00 in Chicago: inside the chosen every-hour window, outside Tue-Thu 17-19.
    with session_scope() as s:
        run_sweep(s, NOW)
    assert len(_campaign_messages(chosen)) == 1
    assert _campaign_messages(optimised) == []
    held = _enrollment(optimised)
    tuesday_five = datetime(2026, 11, 3, 17, 0, tzinfo=CHICAGO).astimezone(UTC)
    assert held.next_run_at == tuesday_five
    assert held.hold_reason == "Outside the suggested send window until Tue 17:00 (America/Chicago)"

    with session_scope() as s:
        run_sweep(s, tuesday_five)
    (sms,) = _campaign_messages(optimised)
    assert sms.channel == Channel.SMS and sms.next_attempt_at == tuesday_five


def test_without_enough_history_the_chosen_window_is_used(app_database, make_campaign):
    optimised = _setup(make_campaign, optimize=True, with_history=False)
    with session_scope() as s:
        run_sweep(s, NOW)
    assert len(_campaign_messages(optimised)) == 1
