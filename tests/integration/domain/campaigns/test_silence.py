"""Silent-lead detection on SQLite and PostgreSQL: thresholds and overrides, what never moves,
reasons and activities, idempotence, waking leads that no longer qualify, office isolation and
a reply being recorded while the pass runs."""

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from sqlmodel import Session, col

from recovery_app.domain.campaigns.silence import (
    detect_silent_leads,
    silence_reason,
    threshold_hours,
)
from recovery_app.models import Activity, ActivityKind, Lead, LeadStatus, Tenant
from tests.factories import NOW, make_lead, make_tenant

HOT, WARM, COLD = 80, 50, 20  # scores that give each temperature


def status_changes(session, lead) -> list[dict]:
    return [
        a.data
        for a in session.execute(
            select(Activity)
            .where(
                col(Activity.lead_id) == lead.id,
                col(Activity.kind) == ActivityKind.STATUS_CHANGED,
            )
            .order_by(col(Activity.id))
        ).scalars()
    ]


def wrote(session, tenant, hours_ago: float, **fields) -> Lead:
    """A lead we last wrote to `hours_ago` hours before NOW (contacted unless told)."""
    return make_lead(session, tenant, last_outbound_at=NOW - timedelta(hours=hours_ago), **fields)


def test_default_threshold_is_48_hours(session) -> None:
    tenant = make_tenant(session)
    recent, old = wrote(session, tenant, 47), wrote(session, tenant, 49)

    result = detect_silent_leads(session, NOW)

    assert result["marked_silent"] == 1 and result["unsilenced"] == 0
    assert result["tenants"] >= 1
    assert recent.status == LeadStatus.CONTACTED and recent.status_reason is None
    assert old.status == LeadStatus.SILENT
    assert old.status_reason == "No reply within 48 h of our last message"
    assert old.status_changed_at == old.updated_at == old.last_activity_at == NOW


def test_temperature_overrides(session) -> None:
    tenant = make_tenant(session, silence_overrides={"hot": 4, "warm": 24})
    hot_5h, hot_3h = wrote(session, tenant, 5, score=HOT), wrote(session, tenant, 3, score=HOT)
    warm_25h, warm_5h = (
        wrote(session, tenant, 25, score=WARM),
        wrote(session, tenant, 5, score=WARM),
    )
    cold_25h, cold_49h = (
        wrote(session, tenant, 25, score=COLD),
        wrote(session, tenant, 49, score=COLD),
    )

    assert detect_silent_leads(session, NOW)["marked_silent"] == 3

    assert [lead.status for lead in (hot_5h, warm_25h, cold_49h)] == [LeadStatus.SILENT] * 3
    assert [lead.status for lead in (hot_3h, warm_5h, cold_25h)] == [LeadStatus.CONTACTED] * 3
    assert hot_5h.status_reason == "No reply within 4 h of our last message"
    assert warm_25h.status_reason == "No reply within 24 h of our last message"
    assert cold_49h.status_reason == "No reply within 48 h of our last message"


def test_threshold_hours_reads_overrides() -> None:
    tenant = Tenant(name="o", location_id="o", silence_threshold_hours=72)
    tenant.silence_overrides = {"hot": 4, "warm": 0, "cold": "soon"}
    assert threshold_hours(tenant, "hot") == 4
    assert threshold_hours(tenant, "warm") == 72  # not a positive number of hours: the default
    assert threshold_hours(tenant, "cold") == 72


def test_a_reply_after_our_last_message_keeps_the_lead_open(session) -> None:
    tenant = make_tenant(session)
    answered = wrote(session, tenant, 60, last_inbound_at=NOW - timedelta(hours=59))
    answered_earlier = wrote(session, tenant, 60, last_inbound_at=NOW - timedelta(hours=61))

    detect_silent_leads(session, NOW)

    assert answered.status == LeadStatus.CONTACTED
    assert answered_earlier.status == LeadStatus.SILENT


def test_new_converted_lost_and_never_written_leads_never_move(session) -> None:
    tenant = make_tenant(session)
    untouched = [
        wrote(session, tenant, 500, status=status)
        for status in (LeadStatus.NEW, LeadStatus.CONVERTED, LeadStatus.LOST)
    ]
    never_wrote = make_lead(session, tenant, created_at=NOW - timedelta(days=30))

    assert detect_silent_leads(session, NOW)["marked_silent"] == 0

    assert [lead.status for lead in untouched] == [
        LeadStatus.NEW,
        LeadStatus.CONVERTED,
        LeadStatus.LOST,
    ]
    assert never_wrote.status == LeadStatus.CONTACTED
    assert all(status_changes(session, lead) == [] for lead in [*untouched, never_wrote])


@pytest.mark.parametrize("status", [LeadStatus.ENGAGED, LeadStatus.RECOVERED])
def test_engaged_and_recovered_leads_go_silent_when_our_later_message_goes_unanswered(
    session, status
) -> None:
    tenant = make_tenant(session)
    wrote_after_reply = wrote(
        session, tenant, 60, status=status, last_inbound_at=NOW - timedelta(hours=70)
    )
    still_talking = wrote(
        session, tenant, 60, status=status, last_inbound_at=NOW - timedelta(hours=50)
    )

    detect_silent_leads(session, NOW)

    assert wrote_after_reply.status == LeadStatus.SILENT
    assert still_talking.status == status
    assert status_changes(session, wrote_after_reply)[0]["from"] == str(status)


def test_each_change_is_an_activity_with_from_to_reason(session) -> None:
    tenant = make_tenant(session)
    lead = wrote(session, tenant, 72.5)

    detect_silent_leads(session, NOW)

    (activity,) = session.execute(
        select(Activity).where(
            col(Activity.lead_id) == lead.id, col(Activity.kind) == ActivityKind.STATUS_CHANGED
        )
    ).scalars()
    assert activity.tenant_id == tenant.id and activity.occurred_at == NOW
    assert activity.data == {
        "from": "contacted",
        "to": "silent",
        "reason": "No reply within 48 h of our last message",
        "last_outbound_at": (NOW - timedelta(hours=72.5)).isoformat(),
    }


def test_a_second_pass_changes_nothing(session) -> None:
    tenant = make_tenant(session, silence_overrides={"hot": 4})
    leads = [wrote(session, tenant, 49), wrote(session, tenant, 5, score=HOT)]
    first = detect_silent_leads(session, NOW)
    changed_at = [lead.status_changed_at for lead in leads]

    second = detect_silent_leads(session, NOW + timedelta(minutes=5))

    assert first["marked_silent"] == 2
    assert second["marked_silent"] == second["unsilenced"] == 0
    assert [lead.status_changed_at for lead in leads] == changed_at
    assert [len(status_changes(session, lead)) for lead in leads] == [1, 1]


def test_a_raised_threshold_wakes_silent_leads(session) -> None:
    tenant = make_tenant(session, silence_threshold_hours=24)
    lead, older = wrote(session, tenant, 30), wrote(session, tenant, 80)
    detect_silent_leads(session, NOW)
    tenant.silence_threshold_hours = 72

    result = detect_silent_leads(session, NOW)

    assert result["unsilenced"] == 1 and result["marked_silent"] == 0
    assert lead.status == LeadStatus.CONTACTED and lead.status_reason == "Threshold changed"
    assert older.status == LeadStatus.SILENT
    assert status_changes(session, lead)[-1] == {
        "from": "silent",
        "to": "contacted",
        "reason": "Threshold changed",
        "last_outbound_at": (NOW - timedelta(hours=30)).isoformat(),
    }


def test_a_recovery_message_to_a_silent_lead_keeps_it_silent(session) -> None:
    """Writing to a silent lead (a recovery step) makes its last outbound recent; that is not a
    raised threshold, so it stays in the recovery audience."""
    tenant = make_tenant(session)
    lead = wrote(session, tenant, 50)
    detect_silent_leads(session, NOW)
    lead.last_outbound_at = NOW + timedelta(hours=1)

    result = detect_silent_leads(session, NOW + timedelta(hours=2))

    assert result["unsilenced"] == 0 and lead.status == LeadStatus.SILENT


def test_snoozed_leads_are_not_marked_and_snoozing_wakes_silent_ones(session) -> None:
    tenant = make_tenant(session)
    snoozed = wrote(session, tenant, 100, snoozed_until=NOW + timedelta(days=1))
    snooze_over = wrote(session, tenant, 100, snoozed_until=NOW)
    silent = wrote(session, tenant, 100)
    assert detect_silent_leads(session, NOW)["marked_silent"] == 2
    silent.snoozed_until = NOW + timedelta(days=2)

    result = detect_silent_leads(session, NOW)

    assert (result["marked_silent"], result["unsilenced"]) == (0, 1)
    assert snoozed.status == LeadStatus.CONTACTED and status_changes(session, snoozed) == []
    assert snooze_over.status == LeadStatus.SILENT
    assert silent.status == LeadStatus.CONTACTED and silent.status_reason == "Snoozed"
    assert [c["to"] for c in status_changes(session, silent)] == ["silent", "contacted"]


def test_offices_keep_their_own_thresholds(session) -> None:
    quick = make_tenant(session, silence_threshold_hours=6)
    slow = make_tenant(session, silence_threshold_hours=96, silence_overrides={"hot": 2})
    quick_lead, slow_lead = wrote(session, quick, 10), wrote(session, slow, 10)
    quick_hot, slow_hot = wrote(session, quick, 3, score=HOT), wrote(session, slow, 3, score=HOT)

    result = detect_silent_leads(session, NOW)

    assert result["marked_silent"] == 2 and result["tenants"] >= 2
    assert (quick_lead.status, slow_lead.status) == (LeadStatus.SILENT, LeadStatus.CONTACTED)
    assert (quick_hot.status, slow_hot.status) == (LeadStatus.CONTACTED, LeadStatus.SILENT)
    assert quick_lead.status_reason == "No reply within 6 h of our last message"
    assert slow_hot.status_reason == "No reply within 2 h of our last message"
    assert status_changes(session, slow_hot)[0]["reason"] == slow_hot.status_reason


def test_status_reason_reads_days_beyond_two_days(session) -> None:
    tenant = make_tenant(session, silence_threshold_hours=72)
    lead = wrote(session, tenant, 80)
    detect_silent_leads(session, NOW)
    assert lead.status_reason == "No reply within 3 d of our last message"


@pytest.mark.parametrize(
    ("hours_ago", "text"),
    [
        (0.5, "Last outbound 0 h ago, no reply"),
        (5, "Last outbound 5 h ago, no reply"),
        (47.9, "Last outbound 47 h ago, no reply"),
        (48, "Last outbound 2 d ago, no reply"),
        (24 * 3 + 5, "Last outbound 3 d ago, no reply"),
    ],
)
def test_silence_reason_formats_hours_then_days(hours_ago, text) -> None:
    lead = Lead(
        tenant_id=1, status=LeadStatus.SILENT, last_outbound_at=NOW - timedelta(hours=hours_ago)
    )
    assert silence_reason(lead, NOW) == text


def test_silence_reason_is_none_unless_silent() -> None:
    contacted = Lead(tenant_id=1, last_outbound_at=NOW - timedelta(days=5))
    contacted.status = LeadStatus.CONTACTED
    never_wrote = Lead(tenant_id=1, status=LeadStatus.SILENT)
    assert silence_reason(contacted, NOW) is None
    assert silence_reason(never_wrote, NOW) is None


def test_one_statement_per_office_on_postgresql(session, backend) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs one UPDATE per old status plus one INSERT")
    for hours in (6, 96):
        wrote(session, make_tenant(session, silence_threshold_hours=hours), 10)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = detect_silent_leads(session, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result["marked_silent"] == 1
    assert len([s for s in statements if "UPDATE leads" in s]) == result["tenants"]
    assert len(statements) == result["tenants"] + 1  # plus reading the offices


def test_a_reply_being_recorded_is_not_overwritten(app_database, backend) -> None:
    """While a reply holds the lead's row, the pass skips it; once the reply is in, the lead
    no longer qualifies."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: the pass waits for the reply")
    engine = app_database.engine
    with Session(engine, expire_on_commit=False) as setup:
        tenant = make_tenant(setup)
        replying, quiet = wrote(setup, tenant, 60), wrote(setup, tenant, 60)
        setup.commit()

    with engine.connect() as reply:
        reply.begin()
        reply.execute(
            update(Lead)
            .where(col(Lead.id) == replying.id)
            .values(last_inbound_at=NOW, status=LeadStatus.ENGAGED)
        )
        with Session(engine) as job:
            first = detect_silent_leads(job, NOW)
            job.commit()
        reply.commit()
    with Session(engine) as job:
        second = detect_silent_leads(job, NOW)
        job.commit()
        assert job.get(Lead, replying.id).status == LeadStatus.ENGAGED  # type: ignore[union-attr]
        assert job.get(Lead, quiet.id).status == LeadStatus.SILENT  # type: ignore[union-attr]
        assert status_changes(job, replying) == []
    assert (first["marked_silent"], second["marked_silent"]) == (1, 0)


def test_a_pass_changes_at_most_its_limit_and_the_next_goes_on(session) -> None:
    tenant = make_tenant(session)
    leads = [wrote(session, tenant, 50 + i) for i in range(5)]

    passes = [detect_silent_leads(session, NOW, limit=2) for _ in range(4)]

    assert [(p["marked_silent"], p["backlog"]) for p in passes] == [(2, 1), (2, 1), (1, 0), (0, 0)]
    assert {lead.status for lead in leads} == {LeadStatus.SILENT}
    assert [len(status_changes(session, lead)) for lead in leads] == [1] * 5


def test_the_limit_is_shared_by_every_office_of_a_pass(session) -> None:
    first, second = make_tenant(session), make_tenant(session)
    leads = [wrote(session, office, 50 + i) for office in (first, second) for i in range(3)]

    passes = [detect_silent_leads(session, NOW, limit=4) for _ in range(2)]

    assert [(p["marked_silent"], p["backlog"]) for p in passes] == [(4, 1), (2, 0)]
    assert {lead.status for lead in leads} == {LeadStatus.SILENT}
