"""The audit trail: who did what, when, from what to what. Written in the same transaction as
the change it describes, so there is never a change without its entry (or the reverse)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_row
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.models import AuditLog, User
from recovery_app.observability import request_id as request_ids

PAGE_SIZE = 50


def record(
    session: Session,
    *,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    tenant_id: int | None,
    actor: Viewer | None = None,
    actor_user_id: int | None = None,
    actor_label: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one entry; `actor` (a Viewer) or `actor_user_id`/`actor_label` say who acted."""
    if actor is not None and actor.api_key_id is not None:
        actor_label = actor.actor_label
    elif actor is not None:
        actor_user_id = actor.user_id
    entry = AuditLog(
        tenant_id=tenant_id,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=before or {},
        after=after or {},
        request_id=request_ids.current(),  # which request (or job run) made the change
    )
    return insert_row(session, entry)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    action: str | None = None
    actor_user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditEntry]
    total: int
    page: int
    page_count: int
    actions: list[str]


def list_entries(session: Session, *, viewer: Viewer, query: AuditQuery) -> AuditPage:
    """The viewer's tenant's trail, newest first, 50 a page (managers only)."""
    require_manager(viewer, "read the audit log")
    filters = [col(AuditLog.tenant_id) == viewer.tenant_id]
    if query.action:
        filters.append(col(AuditLog.action) == query.action)
    if query.actor_user_id is not None:
        filters.append(col(AuditLog.actor_user_id) == query.actor_user_id)
    if query.since is not None:
        filters.append(col(AuditLog.created_at) >= query.since)
    if query.until is not None:
        filters.append(col(AuditLog.created_at) < query.until)
    total = int(
        session.execute(select(func.count()).select_from(AuditLog).where(*filters)).scalar_one()
    )
    page_count = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, query.page), page_count)
    rows = session.execute(
        select(AuditLog, col(User.full_name), col(User.email))
        .outerjoin(User, col(User.id) == col(AuditLog.actor_user_id))
        .where(*filters)
        .order_by(col(AuditLog.created_at).desc(), col(AuditLog.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    actions = list(
        session.execute(
            select(col(AuditLog.action))
            .where(col(AuditLog.tenant_id) == viewer.tenant_id)
            .distinct()
            .order_by(col(AuditLog.action))
        ).scalars()
    )
    items = [
        AuditEntry(
            id=entry.id,  # type: ignore[arg-type]
            created_at=entry.created_at,
            actor=name or email or entry.actor_label or "system",
            action=entry.action,
            entity_type=entry.entity_type,
            entity_id=entry.entity_id,
            before=entry.before,
            after=entry.after,
        )
        for entry, name, email in rows
    ]
    return AuditPage(items=items, total=total, page=page, page_count=page_count, actions=actions)
