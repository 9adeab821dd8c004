from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import Tenant, User


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.execute(select(Tenant).order_by(col(Tenant.name))).scalars())


def get_tenant(session: Session, tenant_id: int) -> Tenant | None:
    return session.get(Tenant, tenant_id)


def tenant_by_location(session: Session, location_id: str) -> Tenant | None:
    stmt = select(Tenant).where(col(Tenant.location_id) == location_id)
    return session.execute(stmt).scalar_one_or_none()


def user_by_email(session: Session, email: str) -> User | None:
    stmt = select(User).where(col(User.email) == email.strip().lower())
    return session.execute(stmt).scalar_one_or_none()


def count_tenants(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Tenant)).scalar_one())


def sole_tenant(session: Session) -> Tenant | None:
    """The deployment's one office when it has exactly one (demo sandboxes aside), else None:
    webhooks that do not name a location may use it."""
    tenants = (
        session.execute(select(Tenant).where(col(Tenant.demo_expires_at).is_(None)).limit(2))
        .scalars()
        .all()
    )
    return tenants[0] if len(tenants) == 1 else None
