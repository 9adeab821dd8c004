"""Hosted demo (DEMO_MODE=1): every visitor gets a private sandbox tenant, signed in as its
manager, that expires after 24 hours. Nothing a visitor does is seen by another, and nothing
is really sent (demo tenants always use the sandbox channel)."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.demo.generator import seed_sandbox
from recovery_app.domain.accounts.auth import open_session
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.accounts.service import delete_tenant
from recovery_app.domain.audit import service as audit
from recovery_app.errors import Forbidden, NotFound, RateLimited
from recovery_app.models import Role, SignInAttempt, Tenant, User, UserSession
from recovery_app.settings import get_settings

SANDBOX_LIFETIME = timedelta(hours=24)
MAX_SANDBOXES_PER_IP_PER_HOUR = 5


def start_demo(
    session: Session, *, now: datetime, ip: str | None, user_agent: str | None = None
) -> str:
    """Create a sandbox for one visitor and return a session token for its manager."""
    if not get_settings().demo_mode:
        raise Forbidden("The demo is not enabled on this server.")
    recent = session.execute(
        select(func.count())
        .select_from(SignInAttempt)
        .where(
            col(SignInAttempt.kind) == "demo",
            col(SignInAttempt.ip) == ip,
            col(SignInAttempt.created_at) >= now - timedelta(hours=1),
        )
    ).scalar_one()
    if recent >= MAX_SANDBOXES_PER_IP_PER_HOUR:
        raise RateLimited(
            "Too many demo sandboxes from your address in the last hour; try again later.",
            retry_after_seconds=3600,
        )
    session.add(SignInAttempt(kind="demo", ip=ip, succeeded=True, created_at=now))
    sandbox = seed_sandbox(
        session, token=secrets.token_hex(6), expires_at=now + SANDBOX_LIFETIME, now=now
    )
    manager = session.get(User, sandbox.manager_id)
    assert manager is not None
    token = open_session(
        session, user=manager, tenant_id=sandbox.tenant_id, now=now, ip=ip, user_agent=user_agent
    )
    audit.record(
        session,
        action="demo.sandbox_created",
        entity_type="tenant",
        entity_id=sandbox.tenant_id,
        tenant_id=sandbox.tenant_id,
        actor_user_id=manager.id,
        after={"expires_at": (now + SANDBOX_LIFETIME).isoformat()},
    )
    return token


@dataclass(frozen=True, slots=True)
class DemoPerson:
    id: int
    name: str
    role: str


def demo_people(session: Session, *, viewer: Viewer) -> list[DemoPerson]:
    """Who a demo visitor can look through the eyes of (their sandbox's manager and agents)."""
    if not viewer.is_demo:
        return []
    users = session.execute(
        select(User)
        .where(col(User.tenant_id) == viewer.tenant_id, col(User.active).is_(True))
        .order_by(col(User.role).desc(), col(User.full_name))
    ).scalars()
    return [DemoPerson(id=u.id, name=u.full_name, role=u.role) for u in users]  # type: ignore[arg-type]


def switch_demo_user(session: Session, *, viewer: Viewer, user_id: int) -> None:
    """In a sandbox only: act as another of its users (e.g. an agent) from now on."""
    if not viewer.is_demo or viewer.session_id is None:
        raise Forbidden("Switching users is only possible in a demo sandbox.")
    target = session.get(User, user_id)
    if (
        target is None
        or target.tenant_id != viewer.tenant_id
        or not target.active
        or target.role == Role.ADMIN
    ):
        raise NotFound("No such person in this sandbox.")
    user_session = session.get(UserSession, viewer.session_id)
    assert user_session is not None
    user_session.user_id = user_id
    audit.record(
        session,
        action="demo.viewing_as",
        entity_type="user",
        entity_id=user_id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"role": target.role},
    )


def purge_expired_sandboxes(session: Session, *, now: datetime) -> int:
    """Delete every sandbox whose time is up; returns how many went."""
    expired = list(
        session.execute(
            select(col(Tenant.id)).where(
                col(Tenant.demo_expires_at).is_not(None), col(Tenant.demo_expires_at) <= now
            )
        ).scalars()
    )
    for tenant_id in expired:
        delete_tenant(session, tenant_id=int(tenant_id))  # type: ignore[arg-type]
    return len(expired)
