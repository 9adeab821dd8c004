"""Silent-lead detection on SQLite and PostgreSQL: thresholds, overrides, what never moves,
reasons, activities, idempotence, unsilencing."""

from datetime import timedelta

from sqlalchemy import select

from recovery_app.domain.campaigns.silence import detect_silent_leads, silence_reason
from recovery_app.models import Activity, ActivityKind, LeadStatus
from tests.factories import NOW, make_lead, make_tenant


def status_changes(session, lead) -> list[dict]:
    return [
        a.data
        for a in session.execute(
            select(Activity)
            .where(Activity.lead_id == lead.id, Activity.kind == ActivityKind.STATUS_CHANGED)
            .order_by(Activity.id)
        ).scalars()
    ]


def wrote(session, tenant, hours_ago, **fields):
    return make_lead(session, tenant, last_outbound_at=NOW - timedelta(hours=hours_ago), **fields)


def test_threshold_overrides_and_what_never_moves(session) -> None:
    tenant = make_tenant(session, silence_threshold_hours=48, silence_overrides={"hot": 4})
    recent = wrote(session, tenant, 47, score=50)
    old = wrote(session, tenant, 49, score=50)
    hot = wrote(session, tenant, 5, score=80)
    answered = wrote(session, tenant, 60, last_inbound_at=NOW - timedelta(hours=59))
    engaged = wrote(
        session, tenant, 60, status=LeadStatus.ENGAGED, last_inbound_at=NOW - timedelta(hours=70)
    )
    untouched = [
        wrote(session, tenant, 100, status=status)
        for status in (LeadStatus.NEW, LeadStatus.CONVERTED, LeadStatus.LOST)
    ]
    never_wrote = make_lead(session, tenant)
    snoozed = wrote(session, tenant, 100, snoozed_until=NOW + timedelta(days=1))

    result = detect_silent_leads(session, NOW)
    session.expire_all()
    assert result["marked_silent"] == 3
    assert (old.status, hot.status, engaged.status) == (LeadStatus.SILENT,) * 3
    for lead in (recent, answered, never_wrote, snoozed, *untouched):
        assert lead.status != LeadStatus.SILENT
    assert old.status_reason == "No reply within 2 d of our last message"
    assert hot.status_reason == "No reply within 4 h of our last message"
    assert status_changes(session, old) == [
        {"from": "contacted", "to": "silent", "reason": "No reply within 2 d of our last message"}
    ]
    assert status_changes(session, engaged)[0]["from"] == "engaged"
    assert silence_reason(old, NOW) == "Last outbound 2 d ago, no reply"
    assert silence_reason(hot, NOW) == "Last outbound 5 h ago, no reply"
    assert silence_reason(recent, NOW) is None

    # A second pass changes nothing.
    assert detect_silent_leads(session, NOW)["marked_silent"] == 0
    assert len(status_changes(session, old)) == 1


def test_raised_threshold_and_snooze_unsilence(session) -> None:
    tenant = make_tenant(session, silence_threshold_hours=24)
    lead = wrote(session, tenant, 30)
    other = wrote(session, tenant, 30)
    detect_silent_leads(session, NOW)
    tenant.silence_threshold_hours = 72
    other.snoozed_until = NOW + timedelta(days=2)
    session.flush()
    result = detect_silent_leads(session, NOW)
    session.expire_all()
    assert result["unsilenced"] == 2
    assert lead.status == other.status == LeadStatus.CONTACTED
    assert status_changes(session, lead)[-1]["reason"] == "Threshold changed"
    assert status_changes(session, other)[-1]["reason"] == "Snoozed"


def test_tenants_keep_their_own_thresholds(session) -> None:
    quick = make_tenant(session, silence_threshold_hours=6)
    slow = make_tenant(session, silence_threshold_hours=96)
    a, b = wrote(session, quick, 10), wrote(session, slow, 10)
    detect_silent_leads(session, NOW)
    session.expire_all()
    assert a.status == LeadStatus.SILENT and b.status == LeadStatus.CONTACTED
