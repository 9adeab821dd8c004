from datetime import timedelta

import pytest

from recovery_app.domain.audit import service as audit
from recovery_app.errors import Forbidden
from recovery_app.models import AuditLog, Role
from tests.factories import NOW, make_tenant, make_user, viewer_for


def test_managers_browse_and_filter_their_tenants_trail(session) -> None:
    tenant, other = make_tenant(session), make_tenant(session)
    manager = make_user(session, tenant, role=Role.MANAGER, full_name="Mia")
    agent = make_user(session, tenant, role=Role.AGENT)
    for minutes, action, actor in (
        (1, "user.created", manager.id),
        (2, "api_key.created", manager.id),
        (3, "user.signed_in", agent.id),
    ):
        session.add(
            AuditLog(
                tenant_id=tenant.id,
                actor_user_id=actor,
                action=action,
                entity_type="user",
                created_at=NOW + timedelta(minutes=minutes),
            )
        )
    session.add(
        AuditLog(tenant_id=other.id, action="user.created", entity_type="user", created_at=NOW)
    )
    session.add(
        AuditLog(
            tenant_id=tenant.id,
            actor_label="api_key:rk_12345678",
            action="lead.exported",
            entity_type="lead",
            created_at=NOW - timedelta(days=40),
        )
    )
    session.flush()
    viewer = viewer_for(manager)
    everything = audit.list_entries(session, viewer=viewer, query=audit.AuditQuery())
    assert [e.action for e in everything.items] == [
        "user.signed_in",
        "api_key.created",
        "user.created",
        "lead.exported",
    ]
    assert everything.items[1].actor == "Mia" and everything.items[3].actor == "api_key:rk_12345678"
    assert everything.actions == [
        "api_key.created",
        "lead.exported",
        "user.created",
        "user.signed_in",
    ]
    by_action = audit.list_entries(
        session, viewer=viewer, query=audit.AuditQuery(action="user.created")
    )
    assert by_action.total == 1
    by_actor = audit.list_entries(
        session, viewer=viewer, query=audit.AuditQuery(actor_user_id=agent.id)
    )
    assert [e.action for e in by_actor.items] == ["user.signed_in"]
    recent = audit.list_entries(
        session, viewer=viewer, query=audit.AuditQuery(since=NOW - timedelta(days=30))
    )
    assert recent.total == 3
    with pytest.raises(Forbidden):
        audit.list_entries(session, viewer=viewer_for(agent), query=audit.AuditQuery())


def test_pages_of_fifty(session) -> None:
    tenant = make_tenant(session)
    manager = make_user(session, tenant, role=Role.MANAGER)
    session.add_all(
        AuditLog(
            tenant_id=tenant.id, action="x", entity_type="t", created_at=NOW + timedelta(seconds=i)
        )
        for i in range(120)
    )
    session.flush()
    page3 = audit.list_entries(session, viewer=viewer_for(manager), query=audit.AuditQuery(page=9))
    assert (page3.page, page3.page_count, len(page3.items), page3.total) == (3, 3, 20, 120)
