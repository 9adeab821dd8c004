from datetime import timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.demo import sandbox
from recovery_app.domain.accounts import auth
from recovery_app.errors import Forbidden, NotFound, RateLimited
from recovery_app.models import Lead, Role, Tenant, User
from recovery_app.settings import reload_settings
from tests.factories import NOW, make_tenant, make_user, viewer_for


@pytest.fixture
def demo_mode(monkeypatch):
    monkeypatch.setenv("DEMO_MODE", "1")
    reload_settings()
    yield
    monkeypatch.undo()
    reload_settings()


def test_each_visitor_gets_a_private_sandbox(session, demo_mode) -> None:
    first = sandbox.start_demo(session, now=NOW, ip="198.51.100.1")
    second = sandbox.start_demo(session, now=NOW, ip="198.51.100.2")
    one = auth.resolve_session(session, token=first, now=NOW)
    two = auth.resolve_session(session, token=second, now=NOW)
    assert one.tenant_id != two.tenant_id
    assert one.role == two.role == Role.MANAGER and one.is_demo and two.is_demo
    for viewer in (one, two):
        tenant = session.get(Tenant, viewer.tenant_id)
        assert tenant.demo_expires_at == NOW + timedelta(hours=24)
        count = session.execute(
            select(func.count()).select_from(Lead).where(Lead.tenant_id == viewer.tenant_id)
        ).scalar_one()
        assert count == 800
    # The same seed gives every visitor the same story, in separate rows.
    names = [
        session.execute(
            select(Lead.first_name).where(Lead.tenant_id == v.tenant_id).order_by(Lead.id).limit(20)
        )
        .scalars()
        .all()
        for v in (one, two)
    ]
    assert names[0] == names[1]
    # Sandbox users cannot sign in with a password.
    manager = session.get(User, one.user_id)
    assert manager.password_hash is None


def test_demo_needs_demo_mode_and_is_throttled_per_address(session, demo_mode, monkeypatch) -> None:
    for _ in range(sandbox.MAX_SANDBOXES_PER_IP_PER_HOUR):
        sandbox.start_demo(session, now=NOW, ip="198.51.100.9")
    with pytest.raises(RateLimited):
        sandbox.start_demo(session, now=NOW + timedelta(minutes=30), ip="198.51.100.9")
    sandbox.start_demo(session, now=NOW + timedelta(minutes=61), ip="198.51.100.9")
    monkeypatch.setenv("DEMO_MODE", "0")
    reload_settings()
    with pytest.raises(Forbidden):
        sandbox.start_demo(session, now=NOW, ip="198.51.100.10")


def test_visitor_can_view_as_an_agent_of_their_sandbox_only(session, demo_mode) -> None:
    token = sandbox.start_demo(session, now=NOW, ip="198.51.100.3")
    viewer = auth.resolve_session(session, token=token, now=NOW)
    people = sandbox.demo_people(session, viewer=viewer)
    agent = next(p for p in people if p.role == Role.AGENT)
    sandbox.switch_demo_user(session, viewer=viewer, user_id=agent.id)
    as_agent = auth.resolve_session(session, token=token, now=NOW)
    assert (as_agent.user_id, as_agent.role, as_agent.tenant_id) == (
        agent.id,
        Role.AGENT,
        viewer.tenant_id,
    )
    outsider = make_user(session, make_tenant(session))
    with pytest.raises(NotFound):
        sandbox.switch_demo_user(session, viewer=as_agent, user_id=outsider.id)
    with pytest.raises(Forbidden):
        sandbox.switch_demo_user(session, viewer=viewer_for(outsider), user_id=outsider.id)


def test_expired_sandboxes_are_purged_with_all_their_rows(session, demo_mode) -> None:
    token = sandbox.start_demo(session, now=NOW, ip="198.51.100.4")
    keep = make_tenant(session)
    viewer = auth.resolve_session(session, token=token, now=NOW)
    assert sandbox.purge_expired_sandboxes(session, now=NOW + timedelta(hours=23)) == 0
    with pytest.raises(Exception, match="expired"):
        auth.resolve_session(session, token=token, now=NOW + timedelta(hours=24, seconds=1))
    assert sandbox.purge_expired_sandboxes(session, now=NOW + timedelta(hours=24, seconds=1)) == 1
    assert (
        session.get(Tenant, viewer.tenant_id) is None and session.get(Tenant, keep.id) is not None
    )
    leftovers = session.execute(
        select(func.count()).select_from(Lead).where(Lead.tenant_id == viewer.tenant_id)
    ).scalar_one()
    assert leftovers == 0
