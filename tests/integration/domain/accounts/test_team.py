import pytest
from sqlalchemy import select

from recovery_app.domain.accounts import auth, team
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.domain.accounts.passwords import verify_password
from recovery_app.domain.accounts.team import MemberChanges
from recovery_app.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from recovery_app.models import AuditLog, Role, User
from tests.factories import NOW, make_tenant, make_user, viewer_for


@pytest.fixture
def office(session):
    tenant = make_tenant(session)
    manager = make_user(session, tenant, role=Role.MANAGER, full_name="Mia Manager")
    agent = make_user(session, tenant, role=Role.AGENT, full_name="Al Agent")
    return tenant, manager, agent


def test_add_member_hands_over_a_one_time_password(session, office) -> None:
    tenant, manager, _ = office
    member, password = team.add_member(
        session,
        viewer=viewer_for(manager),
        email="New.Person@Office.example",
        full_name="New Person",
        role=Role.AGENT,
        changes=MemberChanges(
            capacity=25,
            specialties=["buyers", " condos "],
            working_hours={"mon": ["09:00", "17:00"]},
        ),
    )
    stored = session.get(User, member.id)
    assert stored.email == "new.person@office.example" and stored.tenant_id == tenant.id
    assert stored.capacity == 25 and stored.specialties == ["buyers", "condos"]
    assert verify_password(stored.password_hash, password) and password not in stored.password_hash
    entry = session.execute(select(AuditLog).where(AuditLog.action == "user.created")).scalar_one()
    assert entry.actor_user_id == manager.id and password not in str(entry.after)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (MemberChanges(capacity=-1), "capacity"),
        (MemberChanges(timezone="Mars/Olympus"), "timezone"),
        (MemberChanges(working_hours={"mon": ["17:00", "09:00"]}), "working_hours"),
        (MemberChanges(working_hours={"funday": ["09:00", "17:00"]}), "working_hours"),
        (MemberChanges(specialties=["x" * 41]), "specialties"),
        (MemberChanges(full_name="<script>" * 40), "full_name"),
        (MemberChanges(role=Role.ADMIN), "role"),
    ],
)
def test_bad_changes_name_the_field_and_change_nothing(session, office, changes, field) -> None:
    _, manager, agent = office
    before = (agent.capacity, agent.timezone, dict(agent.working_hours), agent.role)
    with pytest.raises(ValidationFailed) as caught:
        team.update_member(session, viewer=viewer_for(manager), user_id=agent.id, changes=changes)
    assert field in caught.value.fields
    assert (agent.capacity, agent.timezone, dict(agent.working_hours), agent.role) == before


def test_role_change_is_audited_with_before_and_after(session, office) -> None:
    _, manager, agent = office
    team.update_member(
        session,
        viewer=viewer_for(manager),
        user_id=agent.id,
        changes=MemberChanges(role=Role.MANAGER),
    )
    entry = session.execute(
        select(AuditLog).where(AuditLog.action == "user.role_changed")
    ).scalar_one()
    assert (entry.before, entry.after) == ({"role": "agent"}, {"role": "manager"})


def test_a_tenant_keeps_one_active_manager(session, office) -> None:
    _, manager, _ = office
    with pytest.raises(Conflict):
        team.update_member(
            session,
            viewer=viewer_for(manager),
            user_id=manager.id,
            changes=MemberChanges(role=Role.AGENT),
        )
    with pytest.raises(Conflict):
        team.set_active(
            session, viewer=viewer_for(manager), user_id=manager.id, active=False, now=NOW
        )


def test_deactivation_signs_out_and_revokes_agent_keys(session, office) -> None:
    tenant, manager, agent = office
    token = auth.open_session(session, user=agent, tenant_id=tenant.id, now=NOW)
    key_row, _ = issue_key(session, tenant=tenant, role=Role.AGENT, user=agent)
    team.set_active(session, viewer=viewer_for(manager), user_id=agent.id, active=False, now=NOW)
    session.refresh(key_row)
    assert key_row.revoked_at is not None
    with pytest.raises(Unauthenticated):
        auth.resolve_session(session, token=token, now=NOW)
    member = team.set_active(
        session, viewer=viewer_for(manager), user_id=agent.id, active=True, now=NOW
    )
    assert member.active


def test_reset_password_ends_sessions(session, office) -> None:
    tenant, manager, agent = office
    token = auth.open_session(session, user=agent, tenant_id=tenant.id, now=NOW)
    password = team.reset_password(session, viewer=viewer_for(manager), user_id=agent.id, now=NOW)
    assert verify_password(agent.password_hash, password)
    with pytest.raises(Unauthenticated):
        auth.resolve_session(session, token=token, now=NOW)


def test_agents_and_other_tenants_are_refused(session, office) -> None:
    _, _manager, agent = office
    outsider = make_user(session, make_tenant(session), role=Role.MANAGER)
    with pytest.raises(Forbidden):
        team.list_team(session, viewer=viewer_for(agent))
    with pytest.raises(Forbidden):
        team.add_member(
            session,
            viewer=viewer_for(agent),
            email="x@office.example",
            full_name="X",
            role=Role.AGENT,
        )
    for call in (
        lambda: team.update_member(
            session,
            viewer=viewer_for(outsider),
            user_id=agent.id,
            changes=MemberChanges(capacity=1),
        ),
        lambda: team.set_active(
            session, viewer=viewer_for(outsider), user_id=agent.id, active=False, now=NOW
        ),
        lambda: team.reset_password(
            session, viewer=viewer_for(outsider), user_id=agent.id, now=NOW
        ),
    ):
        with pytest.raises(NotFound):
            call()
    assert agent.active and agent.capacity == 50
    assert [m.id for m in team.list_team(session, viewer=viewer_for(outsider))] == [outsider.id]


def test_managers_cannot_touch_admins(session, office) -> None:
    tenant, manager, _ = office
    admin = make_user(session, tenant, role=Role.ADMIN)
    with pytest.raises(Forbidden):
        team.set_active(
            session, viewer=viewer_for(manager), user_id=admin.id, active=False, now=NOW
        )
    with pytest.raises(Forbidden):
        team.reset_password(session, viewer=viewer_for(manager), user_id=admin.id, now=NOW)


# ---------------------------------------------------------------- booking links
LINK = "https://calendly.com/al-agent/30min"


def test_a_manager_sets_and_clears_an_agents_booking_link(session, office) -> None:
    _, manager, agent = office
    member = team.update_member(
        session,
        viewer=viewer_for(manager),
        user_id=agent.id,
        changes=MemberChanges(booking_url=f"  {LINK} "),
    )
    assert member.booking_url == LINK and agent.booking_url == LINK
    entry = session.execute(select(AuditLog).where(AuditLog.action == "user.updated")).scalar_one()
    assert (entry.before, entry.after) == ({"booking_url": None}, {"booking_url": LINK})
    # Leaving the field out changes nothing; an emptied field clears it.
    team.update_member(
        session, viewer=viewer_for(manager), user_id=agent.id, changes=MemberChanges(capacity=9)
    )
    assert agent.booking_url == LINK
    team.update_member(
        session, viewer=viewer_for(manager), user_id=agent.id, changes=MemberChanges(booking_url="")
    )
    assert agent.booking_url is None


def test_a_new_member_can_come_with_a_booking_link(session, office) -> None:
    _, manager, _ = office
    member, _ = team.add_member(
        session,
        viewer=viewer_for(manager),
        email="new.agent@office.example",
        full_name="New Agent",
        role=Role.AGENT,
        changes=MemberChanges(booking_url=LINK),
    )
    assert session.get(User, member.id).booking_url == LINK


@pytest.mark.parametrize(
    "url",
    [
        "http://calendly.com/al",  # https only
        "calendly.com/al",
        "javascript:alert(1)",
        "https://",
        "https://localhost/al",
        "https://user:pass@calendly.com/al",
        "https://calendly.com/al agent",
        "https://calendly.com/" + "a" * 500,
    ],
)
def test_booking_links_must_be_plain_https_addresses(session, office, url) -> None:
    _, manager, agent = office
    with pytest.raises(ValidationFailed) as caught:
        team.update_member(
            session,
            viewer=viewer_for(manager),
            user_id=agent.id,
            changes=MemberChanges(booking_url=url),
        )
    assert "booking_url" in caught.value.fields
    assert agent.booking_url is None


def test_only_the_offices_managers_set_booking_links(session, office) -> None:
    _, _, agent = office
    outsider = make_user(session, make_tenant(session), role=Role.MANAGER)
    with pytest.raises(Forbidden):  # not even their own: agents do not edit the team
        team.update_member(
            session,
            viewer=viewer_for(agent),
            user_id=agent.id,
            changes=MemberChanges(booking_url=LINK),
        )
    with pytest.raises(NotFound):
        team.update_member(
            session,
            viewer=viewer_for(outsider),
            user_id=agent.id,
            changes=MemberChanges(booking_url=LINK),
        )
    assert agent.booking_url is None
