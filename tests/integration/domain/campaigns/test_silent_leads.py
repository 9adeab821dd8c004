"""The silent-lead table on SQLite and PostgreSQL: each filter and sort, what is planned next,
and the row and bulk actions with who may do what."""

from datetime import timedelta

import pytest
from sqlmodel import select

from recovery_app.domain.campaigns import silent_leads as silent
from recovery_app.errors import Forbidden, NotFound, ValidationFailed
from recovery_app.models import (
    Activity,
    ActivityKind,
    AuditLog,
    Channel,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadStatus,
    Notification,
    Temperature,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of, viewer_for


def silent_lead(session, tenant, *, days: float, channel: str = "sms", **fields) -> Lead:
    out = NOW - timedelta(days=days)
    return make_lead(
        session,
        tenant,
        status=LeadStatus.SILENT,
        status_reason="No reply within 3 d of our last message",
        status_changed_at=out + timedelta(days=3),
        last_outbound_at=out,
        last_outbound_channel=channel,
        **fields,
    )


@pytest.fixture
def office(session):
    tenant = make_tenant(session)
    ana = make_user(session, tenant, full_name="Ana Agent")
    ben = make_user(session, tenant, full_name="Ben Agent")
    return tenant, ana, ben, manager_of(tenant)


def ids(page) -> list[int]:
    return [lead.id for lead in page.items]


def listed(session, viewer, **query) -> list[int]:
    return ids(
        silent.list_silent(session, viewer=viewer, query=silent.SilentQuery(**query), now=NOW)
    )


def test_only_silent_leads_longest_silence_first(session, office) -> None:
    tenant, ana, _, manager = office
    week = silent_lead(session, tenant, days=7, assigned_user_id=ana.id)
    month = silent_lead(session, tenant, days=30)
    four = silent_lead(session, tenant, days=4)
    make_lead(session, tenant, status=LeadStatus.CONTACTED, last_outbound_at=NOW)
    make_lead(session, tenant, status=LeadStatus.LOST, last_outbound_at=NOW - timedelta(days=9))
    other_office = make_tenant(session)
    silent_lead(session, other_office, days=10)

    assert listed(session, manager) == [month.id, week.id, four.id]
    assert listed(session, manager, descending=False) == [four.id, week.id, month.id]
    page = silent.list_silent(session, viewer=manager, query=silent.SilentQuery(), now=NOW)
    assert page.total == 3
    row = page.items[1]
    assert (row.assigned_name, row.last_channel) == ("Ana Agent", "sms")
    assert row.reason == "No reply within 3 d of our last message"


def test_each_filter(session, office) -> None:
    tenant, ana, _, manager = office
    hot = silent_lead(
        session, tenant, days=20, score=85, source="referral", assigned_user_id=ana.id
    )
    warm = silent_lead(session, tenant, days=5, score=55, channel="email", source="portal")
    cold = silent_lead(
        session,
        tenant,
        days=2,
        score=15,
        first_name="Zelda",
        last_name="Quiet",
        phone="+15125550199",
    )
    assert listed(session, manager, silent_for_hours=24 * 7) == [hot.id]
    assert listed(session, manager, temperature=Temperature.WARM) == [warm.id]
    assert listed(session, manager, min_score=50) == [hot.id, warm.id]
    assert listed(session, manager, max_score=50) == [cold.id]
    assert listed(session, manager, source="portal") == [warm.id]
    assert listed(session, manager, assigned_user_id=ana.id) == [hot.id]
    assert listed(session, manager, assigned_user_id=0) == [warm.id, cold.id]
    assert listed(session, manager, last_channel=Channel.EMAIL) == [warm.id]
    assert listed(session, manager, text="zelda") == [cold.id]
    assert listed(session, manager, text="555-0199") == [cold.id]
    assert listed(session, manager, sort="score") == [hot.id, warm.id, cold.id]
    assert listed(session, manager, sort="name", descending=False)[-1] == cold.id


def test_campaign_filter_and_planned_next(session, office, make_campaign) -> None:
    tenant, _, _, manager = office
    nurtured = silent_lead(session, tenant, days=9)
    idle = silent_lead(session, tenant, days=8)
    campaign = make_campaign(session, manager, audience={"status": ["engaged"]})
    assert (
        silent.enroll(
            session, viewer=manager, lead_ids=[nurtured.id], campaign_id=campaign.id, now=NOW
        )
        == 1
    )

    assert listed(session, manager, campaign_id=campaign.id) == [nurtured.id]
    assert listed(session, manager, campaign_id=0) == [idle.id]
    page = silent.list_silent(session, viewer=manager, query=silent.SilentQuery(), now=NOW)
    planned = {lead.id: lead.next for lead in page.items}
    assert planned[idle.id] is None
    step = planned[nurtured.id]
    assert (step.campaign, step.step, step.step_count, step.channel) == ("Win back", 1, 2, "sms")
    assert step.due_at == NOW


def test_agents_see_and_act_on_their_own_only(session, office) -> None:
    tenant, ana, ben, _ = office
    tenant.agent_pool_visible = False
    mine = silent_lead(session, tenant, days=5, assigned_user_id=ana.id)
    bens = silent_lead(session, tenant, days=6, assigned_user_id=ben.id)
    as_ana = viewer_for(ana, tenant)
    assert listed(session, as_ana) == [mine.id]
    # Ben's lead id in the request is ignored, not acted on.
    assert (
        silent.mark_lost(
            session, viewer=as_ana, lead_ids=[mine.id, bens.id], reason="No response", now=NOW
        )
        == 1
    )
    session.refresh(bens)
    assert bens.status == LeadStatus.SILENT
    with pytest.raises(Forbidden):
        silent.assign(session, viewer=as_ana, lead_ids=[mine.id], user_id=ben.id, now=NOW)


def test_snooze_takes_the_lead_out_and_defers_its_nurture(session, office, make_campaign) -> None:
    tenant, _, _, manager = office
    lead = silent_lead(session, tenant, days=9)
    campaign = make_campaign(session, manager, audience={"status": ["engaged"]})
    silent.enroll(session, viewer=manager, lead_ids=[lead.id], campaign_id=campaign.id, now=NOW)
    until = NOW + timedelta(days=7)
    assert silent.snooze(session, viewer=manager, lead_ids=[lead.id], until=until, now=NOW) == 1
    session.refresh(lead)
    assert lead.status == LeadStatus.CONTACTED
    assert lead.snoozed_until == until
    assert lead.status_reason == "Snoozed until Nov 8, 2026"
    enrollment = session.exec(select(Enrollment).filter_by(lead_id=lead.id)).one()
    assert enrollment.next_run_at == until
    assert enrollment.hold_reason == "Snoozed until Nov 8, 2026"
    assert listed(session, manager) == []
    kinds = [a.kind for a in session.exec(select(Activity).filter_by(lead_id=lead.id))]
    assert ActivityKind.SNOOZED in kinds
    with pytest.raises(ValidationFailed):
        silent.snooze(session, viewer=manager, lead_ids=[lead.id], until=NOW, now=NOW)


def test_mark_lost_stops_nurture_and_skips_converted(session, office, make_campaign) -> None:
    tenant, _, _, manager = office
    lead = silent_lead(session, tenant, days=9)
    won = make_lead(session, tenant, status=LeadStatus.CONVERTED)
    campaign = make_campaign(session, manager, audience={"status": ["engaged"]})
    silent.enroll(session, viewer=manager, lead_ids=[lead.id], campaign_id=campaign.id, now=NOW)
    assert (
        silent.mark_lost(
            session, viewer=manager, lead_ids=[lead.id, won.id], reason="Not interested", now=NOW
        )
        == 1
    )
    session.refresh(lead)
    session.refresh(won)
    assert (lead.status, lead.status_reason) == (LeadStatus.LOST, "Not interested")
    assert won.status == LeadStatus.CONVERTED
    enrollment = session.exec(select(Enrollment).filter_by(lead_id=lead.id)).one()
    assert enrollment.status == EnrollmentStatus.STOPPED


def test_assign_notifies_once_for_many(session, office) -> None:
    tenant, ana, _, manager = office
    leads = [silent_lead(session, tenant, days=5 + n) for n in range(3)]
    assert (
        silent.assign(
            session, viewer=manager, lead_ids=[lead.id for lead in leads], user_id=ana.id, now=NOW
        )
        == 3
    )
    session.flush()  # what the caller's commit does (refresh reads the database, not the session)
    for lead in leads:
        session.refresh(lead)
        assert lead.assigned_user_id == ana.id
    notes = session.exec(select(Notification).filter_by(user_id=ana.id)).all()
    assert [n.title for n in notes] == ["3 leads assigned to you"]
    # Assigning them to the same agent again changes nothing.
    assert (
        silent.assign(
            session, viewer=manager, lead_ids=[lead.id for lead in leads], user_id=ana.id, now=NOW
        )
        == 0
    )
    other = make_user(session, make_tenant(session))
    with pytest.raises(NotFound):
        silent.assign(session, viewer=manager, lead_ids=[leads[0].id], user_id=other.id, now=NOW)


def test_enroll_moves_leads_from_another_campaign(session, office, make_campaign) -> None:
    tenant, _, _, manager = office
    lead = silent_lead(session, tenant, days=9)
    first = make_campaign(session, manager, name="First", audience={"status": ["engaged"]})
    second = make_campaign(session, manager, name="Second", audience={"status": ["engaged"]})
    silent.enroll(session, viewer=manager, lead_ids=[lead.id], campaign_id=first.id, now=NOW)
    later = NOW + timedelta(hours=1)
    assert (
        silent.enroll(session, viewer=manager, lead_ids=[lead.id], campaign_id=second.id, now=later)
        == 1
    )
    # Already active in it: left where it is.
    assert (
        silent.enroll(session, viewer=manager, lead_ids=[lead.id], campaign_id=second.id, now=later)
        == 0
    )
    rows = {
        e.campaign_id: (e.status, e.stopped_reason)
        for e in session.exec(select(Enrollment).filter_by(lead_id=lead.id))
    }
    assert rows[first.id] == (EnrollmentStatus.STOPPED, f"moved to campaign {second.id}")
    assert rows[second.id] == (EnrollmentStatus.ACTIVE, None)
    session.refresh(lead)
    assert lead.last_activity_at == later


def test_bulk_over_all_matching_in_chunks(session, office, make_campaign) -> None:
    tenant, _, _, manager = office
    hot = [silent_lead(session, tenant, days=4 + n, score=80) for n in range(7)]
    silent_lead(session, tenant, days=4, score=20)
    campaign = make_campaign(session, manager, audience={"status": ["engaged"]})
    query = silent.SilentQuery(temperature=Temperature.HOT)
    assert silent.count_matching(session, viewer=manager, query=query, now=NOW) == 7

    after, seen, enrolled = 0, 0, 0
    while chunk := silent.matching_ids(
        session, viewer=manager, query=query, now=NOW, after_id=after, limit=3
    ):
        seen += len(chunk)
        enrolled += silent.enroll(
            session, viewer=manager, lead_ids=chunk, campaign_id=campaign.id, now=NOW
        )
        after = chunk[-1]
    assert (seen, enrolled) == (7, 7)
    assert {e.lead_id for e in session.exec(select(Enrollment))} == {lead.id for lead in hot}
    silent.audit_bulk(
        session, viewer=manager, action="enroll", count=7, detail={"campaign_id": campaign.id}
    )
    entry = session.exec(select(AuditLog).filter_by(action="leads.bulk_enroll")).one()
    assert entry.after == {"leads": 7, "campaign_id": campaign.id}


def test_invalid_queries_are_refused(session, office) -> None:
    _, _, _, manager = office
    for bad in (
        silent.SilentQuery(sort="nope"),
        silent.SilentQuery(page_size=0),
        silent.SilentQuery(min_score=101),
        silent.SilentQuery(text="x" * 101),
    ):
        with pytest.raises(ValidationFailed):
            silent.list_silent(session, viewer=manager, query=bad, now=NOW)


@pytest.mark.parametrize("sort", ["silent_for", "silent_since", "score", "name"])
@pytest.mark.parametrize("descending", [True, False])
def test_back_pages_hold_the_rows_of_one_long_page(session, office, sort, descending) -> None:
    # Pages past the middle are read from the end in the reverse order (cheap deep pages):
    # page by page, the same rows in the same order as one long page, ties included.
    tenant, *_, manager = office
    for n in range(11):
        silent_lead(
            session,
            tenant,
            days=(4, 7, 7, 30)[n % 4],
            score=(10, 50, 50)[n % 3],
            last_name=("Adams", "Baker")[n % 2],
            first_name="Pat",
        )
    whole = listed(session, manager, sort=sort, descending=descending, page_size=100)
    paged = [
        lead_id
        for page in (1, 2, 3, 4)
        for lead_id in listed(
            session, manager, sort=sort, descending=descending, page=page, page_size=3
        )
    ]
    assert len(whole) == 11 and paged == whole
