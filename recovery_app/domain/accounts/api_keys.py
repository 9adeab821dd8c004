"""API keys: `rk_<8 hex>_<secret>`. The prefix is shown in lists; only a SHA-256 of the whole
key is stored (keys are long random strings, so a fast hash is enough)."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.errors import NotFound, Unauthenticated, ValidationFailed
from recovery_app.models import ApiKey, Role, Tenant, User

KEY_PATTERN = re.compile(r"^(rk_[0-9a-f]{8})_[A-Za-z0-9_-]{20,64}$")
TOUCH_EVERY = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    name: str
    prefix: str
    role: str
    user_name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def issue_key(
    session: Session,
    *,
    tenant: Tenant,
    role: Role,
    name: str = "",
    user: User | None = None,
    created_by_user_id: int | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plaintext (shown once, never again). Agent keys
    act as `user` and see only that agent's leads."""
    name = name.strip()
    if len(name) > 120:
        raise ValidationFailed("Key name too long.", fields={"name": "at most 120 characters"})
    if role == Role.AGENT and (
        user is None or user.tenant_id != tenant.id or user.role != Role.AGENT or not user.active
    ):
        raise ValidationFailed(
            "An agent key needs an active agent of this tenant.",
            fields={"user_id": "an active agent"},
        )
    prefix = f"rk_{secrets.token_hex(4)}"
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        tenant_id=tenant.id,  # type: ignore[arg-type]
        user_id=user.id if role == Role.AGENT and user else None,
        name=name,
        prefix=prefix,
        key_hash=_hash(key),
        role=role,
        created_by_user_id=created_by_user_id,
    )
    session.add(row)
    session.flush()
    return row, key


def create_api_key(
    session: Session, *, viewer: Viewer, role: Role, name: str = "", user_id: int | None = None
) -> tuple[ApiKey, str]:
    """A manager creates a manager or agent key for their tenant (audited)."""
    require_manager(viewer, "create API keys")
    if role not in (Role.MANAGER, Role.AGENT):
        raise ValidationFailed(
            "Keys are for managers or agents.", fields={"role": "manager or agent"}
        )
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    user = session.get(User, user_id) if user_id is not None else None
    row, key = issue_key(
        session, tenant=tenant, role=role, name=name, user=user, created_by_user_id=viewer.user_id
    )
    audit.record(
        session,
        action="api_key.created",
        entity_type="api_key",
        entity_id=row.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"prefix": row.prefix, "name": row.name, "role": role, "user_id": row.user_id},
    )
    return row, key


def list_api_keys(session: Session, *, viewer: Viewer) -> list[ApiKeyInfo]:
    require_manager(viewer, "see API keys")
    rows = session.execute(
        select(ApiKey, col(User.full_name))
        .outerjoin(User, col(User.id) == col(ApiKey.user_id))
        .where(col(ApiKey.tenant_id) == viewer.tenant_id)
        .order_by(col(ApiKey.revoked_at).is_not(None), col(ApiKey.created_at).desc())
    ).all()
    return [
        ApiKeyInfo(
            id=key.id,  # type: ignore[arg-type]
            name=key.name,
            prefix=key.prefix,
            role=key.role,
            user_name=user_name,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )
        for key, user_name in rows
    ]


def revoke_api_key(session: Session, *, viewer: Viewer, key_id: int, now: datetime) -> None:
    require_manager(viewer, "revoke API keys")
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != viewer.tenant_id:
        raise NotFound("No such API key.")
    if key.revoked_at is not None:
        return
    key.revoked_at = now
    audit.record(
        session,
        action="api_key.revoked",
        entity_type="api_key",
        entity_id=key.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"prefix": key.prefix},
    )


def authenticate(session: Session, *, key: str, now: datetime) -> Viewer:
    """The viewer behind a bearer key; Unauthenticated for a missing, malformed, unknown or
    revoked key, or an agent key whose agent was deactivated."""
    match = KEY_PATTERN.match(key or "")
    if match is None:
        raise Unauthenticated("Missing or malformed API key: send Authorization: Bearer rk_...")
    row = session.execute(
        select(ApiKey, Tenant)
        .join(Tenant, col(Tenant.id) == col(ApiKey.tenant_id))
        .where(col(ApiKey.key_hash) == _hash(key))
    ).first()
    if row is None:
        raise Unauthenticated("Unknown API key.")
    api_key, tenant = row
    if api_key.revoked_at is not None:
        raise Unauthenticated("This API key has been revoked.")
    user = session.get(User, api_key.user_id) if api_key.user_id is not None else None
    if api_key.role == Role.AGENT and (user is None or not user.active):
        raise Unauthenticated("The agent this key belongs to is deactivated.")
    if api_key.last_used_at is None or now - api_key.last_used_at >= TOUCH_EVERY:
        api_key.last_used_at = now
    return Viewer(
        tenant_id=tenant.id,  # type: ignore[arg-type]
        role=Role(api_key.role),
        user_id=api_key.user_id,
        name=api_key.name or api_key.prefix,
        api_key_id=api_key.id,
        api_key_prefix=api_key.prefix,
        agent_pool_visible=tenant.agent_pool_visible,
        is_demo=tenant.demo_expires_at is not None,
    )
