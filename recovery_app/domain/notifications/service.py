"""Telling people things: an in-app notification, and when the tenant wants it, a text or an
email to the person too (through the same outbox as every other message)."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_row
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.messaging import outbox
from recovery_app.models import Channel, Lead, Notification, Role, Tenant, User, pk

PAGE = 20


def notify(
    session: Session,
    *,
    user: User,
    kind: str,
    title: str,
    body: str = "",
    lead_id: int | None = None,
    now: datetime,
    dedupe_key: str | None = None,
    also: Collection[str] = (),
) -> Notification:
    """Record a notification for `user` and queue a text and/or an email of it: those the
    tenant sends for every alert, plus `also` ("sms", "email") - where the user has a phone or
    an address."""
    note = Notification(
        tenant_id=user.tenant_id,
        user_id=pk(user),
        kind=kind,
        lead_id=lead_id,
        title=title[:200],
        body=body[:500],
        created_at=now,
    )
    insert_row(session, note)
    tenant = session.get(Tenant, user.tenant_id)
    key = dedupe_key or f"note:{note.id}"
    if tenant is not None and user.active:
        text = f"{title}. {body}".strip()
        if (tenant.notify_agents_sms or "sms" in also) and user.phone:
            outbox.enqueue_internal(
                session,
                user=user,
                channel=Channel.SMS,
                body=text[:300],
                idempotency_key=f"{key}:sms",
                now=now,
            )
        if (tenant.notify_agents_email or "email" in also) and user.email:
            outbox.enqueue_internal(
                session,
                user=user,
                channel=Channel.EMAIL,
                body=text,
                subject=title,
                idempotency_key=f"{key}:email",
                now=now,
            )
    return note


def notify_managers(
    session: Session,
    *,
    tenant_id: int,
    kind: str,
    title: str,
    body: str = "",
    lead_id: int | None = None,
    now: datetime,
    dedupe_key: str | None = None,
) -> int:
    managers = (
        session.execute(
            select(User).where(
                col(User.tenant_id) == tenant_id,
                col(User.active).is_(True),
                col(User.role) == Role.MANAGER,
            )
        )
        .scalars()
        .all()
    )
    for manager in managers:
        notify(
            session,
            user=manager,
            kind=kind,
            title=title,
            body=body,
            lead_id=lead_id,
            now=now,
            dedupe_key=f"{dedupe_key}:{manager.id}" if dedupe_key else None,
        )
    return len(managers)


@dataclass(frozen=True, slots=True)
class Told:
    """Who `notify_owner` told: the lead's agent (and on which channels), or the managers."""

    agent: User | None
    managers: int
    channels: list[str]


def notify_owner(
    session: Session,
    *,
    lead: Lead,
    kind: str,
    title: str,
    body: str = "",
    now: datetime,
    dedupe_key: str,
    also: Collection[str] = (),
) -> Told:
    """Tell the lead's agent - also by text and/or email (`also`) where they have a phone or an
    address - or every manager when nobody active is assigned."""
    agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    if agent is None or not agent.active:
        managers = notify_managers(
            session,
            tenant_id=lead.tenant_id,
            kind=kind,
            title=title,
            body=body,
            lead_id=lead.id,
            now=now,
            dedupe_key=dedupe_key,
        )
        return Told(None, managers, ["in_app"])
    reachable = [
        c for c in ("sms", "email") if c in also and (agent.phone if c == "sms" else agent.email)
    ]
    notify(
        session,
        user=agent,
        kind=kind,
        title=title,
        body=body,
        lead_id=lead.id,
        now=now,
        dedupe_key=dedupe_key,
        also=reachable,
    )
    return Told(agent, 0, ["in_app", *reachable])


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    lead_id: int | None
    created_at: datetime
    read: bool


def _mine(viewer: Viewer) -> tuple[Any, ...]:
    """The viewer's own notifications in the tenant they are looking at: the badge, the list
    and "mark read" must agree for an admin who switched tenants."""
    return (
        col(Notification.user_id) == viewer.user_id,
        col(Notification.tenant_id) == viewer.tenant_id,
    )


def unread_count(session: Session, *, viewer: Viewer) -> int:
    if viewer.user_id is None:
        return 0
    return int(
        session.execute(
            select(func.count())
            .select_from(Notification)
            .where(*_mine(viewer), col(Notification.read_at).is_(None))
        ).scalar_one()
    )


def recent(session: Session, *, viewer: Viewer) -> list[NotificationView]:
    """The viewer's own latest notifications (nobody reads anyone else's)."""
    if viewer.user_id is None:
        return []
    rows = session.execute(
        select(Notification)
        .where(*_mine(viewer))
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(PAGE)
    ).scalars()
    return [
        NotificationView(
            pk(n), n.kind, n.title, n.body, n.lead_id, n.created_at, n.read_at is not None
        )
        for n in rows
    ]


def mark_all_read(session: Session, *, viewer: Viewer, now: datetime) -> None:
    if viewer.user_id is None:
        return
    session.execute(
        update(Notification)
        .where(*_mine(viewer), col(Notification.read_at).is_(None))
        .values(read_at=now)
    )
