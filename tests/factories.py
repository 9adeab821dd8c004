"""Small builders for test rows; each fills only what a test does not care about."""

import itertools
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.scoring.service import temperature_for
from recovery_app.models import Lead, LeadStatus, Role, Tenant, User

_seq = itertools.count(1)
NOW = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)


def make_tenant(session: Session, **fields) -> Tenant:
    n = next(_seq)
    tenant = Tenant(**({"name": f"Office {n}", "location_id": f"loc-{n}"} | fields))
    session.add(tenant)
    session.flush()
    return tenant


def make_user(session: Session, tenant: Tenant, **fields) -> User:
    n = next(_seq)
    user = User(
        **(
            {
                "tenant_id": tenant.id,
                "email": f"user{n}@office.example",
                "full_name": f"Agent {n}",
                "role": Role.AGENT,
            }
            | fields
        )
    )
    session.add(user)
    session.flush()
    return user


def make_lead(session: Session, tenant: Tenant, **fields) -> Lead:
    n = next(_seq)
    score = fields.pop("score", 50)
    created = fields.pop("created_at", NOW - timedelta(hours=n))
    lead = Lead(
        **(
            {
                "tenant_id": tenant.id,
                "first_name": f"First{n}",
                "last_name": f"Last{n}",
                "email": f"lead{n}@example.com",
                "phone": f"+1512555{n % 10_000:04d}",
                "status": LeadStatus.CONTACTED,
                "score": score,
                "temperature": temperature_for(score),
                "created_at": created,
                "updated_at": created,
                "last_activity_at": created,
            }
            | fields
        )
    )
    session.add(lead)
    session.flush()
    return lead


def viewer_for(user: User, tenant: Tenant | None = None, **fields) -> Viewer:
    """The Viewer a session of `user` resolves to (acting in `tenant`, default their own)."""
    return Viewer(
        **(
            {
                "tenant_id": (tenant.id if tenant else user.tenant_id),
                "role": Role(user.role),
                "user_id": user.id,
                "name": user.full_name,
                "email": user.email,
                "agent_pool_visible": tenant.agent_pool_visible if tenant else True,
            }
            | fields
        )
    )


def manager_of(tenant: Tenant) -> Viewer:
    """A manager's view of `tenant` without a user row (as a manager API key sees it)."""
    return Viewer(tenant_id=tenant.id, role=Role.MANAGER)  # type: ignore[arg-type]
