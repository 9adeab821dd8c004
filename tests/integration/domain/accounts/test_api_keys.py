from datetime import timedelta

import pytest
from sqlalchemy import select

from recovery_app.domain.accounts import api_keys
from recovery_app.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from recovery_app.models import ApiKey, AuditLog, Role
from tests.factories import NOW, make_tenant, make_user, manager_of, viewer_for


@pytest.fixture
def office(session):
    tenant = make_tenant(session)
    return (
        tenant,
        make_user(session, tenant, role=Role.AGENT),
        make_user(session, tenant, role=Role.MANAGER),
    )


def test_keys_are_shown_once_and_stored_hashed(session, office) -> None:
    tenant, _, manager = office
    row, key = api_keys.create_api_key(
        session, viewer=viewer_for(manager), role=Role.MANAGER, name="form"
    )
    assert key.startswith(row.prefix + "_") and len(key) > 40
    assert key not in (row.key_hash, row.prefix)
    viewer = api_keys.authenticate(session, key=key, now=NOW)
    assert (viewer.tenant_id, viewer.role, viewer.api_key_prefix) == (
        tenant.id,
        Role.MANAGER,
        row.prefix,
    )
    assert row.last_used_at == NOW
    api_keys.authenticate(session, key=key, now=NOW + timedelta(seconds=10))
    assert row.last_used_at == NOW  # written at most once a minute
    assert (
        session.execute(select(AuditLog).where(AuditLog.action == "api_key.created"))
        .scalars()
        .all()
    )


def test_agent_keys_act_as_their_agent(session, office) -> None:
    _, agent, manager = office
    _, key = api_keys.create_api_key(
        session, viewer=viewer_for(manager), role=Role.AGENT, user_id=agent.id
    )
    viewer = api_keys.authenticate(session, key=key, now=NOW)
    assert (viewer.role, viewer.user_id) == (Role.AGENT, agent.id)
    agent.active = False
    with pytest.raises(Unauthenticated, match="deactivated"):
        api_keys.authenticate(session, key=key, now=NOW)


def test_agent_key_needs_an_agent_of_the_tenant(session, office) -> None:
    _, _, manager = office
    stranger = make_user(session, make_tenant(session), role=Role.AGENT)
    for user_id in (None, manager.id, stranger.id):
        with pytest.raises(ValidationFailed):
            api_keys.create_api_key(
                session, viewer=viewer_for(manager), role=Role.AGENT, user_id=user_id
            )


def test_revoked_malformed_and_unknown_keys_get_401(session, office) -> None:
    _tenant, _, manager = office
    row, key = api_keys.create_api_key(session, viewer=viewer_for(manager), role=Role.MANAGER)
    api_keys.revoke_api_key(session, viewer=viewer_for(manager), key_id=row.id, now=NOW)
    for bad in (key, "", "Bearer", "rk_12345678_" + "x" * 40, "rk_zz_short"):
        with pytest.raises(Unauthenticated):
            api_keys.authenticate(session, key=bad, now=NOW)


def test_only_managers_of_the_tenant_manage_keys(session, office) -> None:
    _tenant, agent, manager = office
    row, _ = api_keys.create_api_key(session, viewer=viewer_for(manager), role=Role.MANAGER)
    with pytest.raises(Forbidden):
        api_keys.create_api_key(session, viewer=viewer_for(agent), role=Role.MANAGER)
    with pytest.raises(Forbidden):
        api_keys.list_api_keys(session, viewer=viewer_for(agent))
    with pytest.raises(NotFound):
        api_keys.revoke_api_key(
            session, viewer=manager_of(make_tenant(session)), key_id=row.id, now=NOW
        )
    assert session.get(ApiKey, row.id).revoked_at is None
    assert [k.prefix for k in api_keys.list_api_keys(session, viewer=viewer_for(manager))] == [
        row.prefix
    ]
    with pytest.raises(ValidationFailed):
        api_keys.create_api_key(session, viewer=viewer_for(manager), role=Role.ADMIN)
