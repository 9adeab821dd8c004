"""Team management: managers add, change and deactivate the people of their tenant."""

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts import service as accounts
from recovery_app.domain.accounts.auth import revoke_user_sessions
from recovery_app.domain.accounts.passwords import hash_password
from recovery_app.domain.accounts.permissions import assignable_roles, require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.alerts.repository import release_held_alerts
from recovery_app.domain.audit import service as audit
from recovery_app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from recovery_app.integrations import slack
from recovery_app.models import ApiKey, Role, Tenant, User
from recovery_app.settings import is_production

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_SPECIALTIES = 10
MAX_BOOKING_URL = 500


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    email: str
    full_name: str
    phone: str | None
    role: str
    capacity: int
    specialties: list[str]
    timezone: str
    working_hours: dict[str, list[str]]
    active: bool
    last_login_at: datetime | None
    booking_url: str | None = None
    # Masked (the URL is a secret); the error is why Slack refused it, if it did.
    slack_webhook: str = ""
    slack_webhook_error: str | None = None


@dataclass(frozen=True, slots=True)
class MemberChanges:
    """Fields a manager may change; None leaves the field as it is ("" clears a booking URL)."""

    full_name: str | None = None
    phone: str | None = None
    role: Role | None = None
    capacity: int | None = None
    specialties: list[str] | None = None
    timezone: str | None = None
    working_hours: dict[str, list[str]] | None = field(default=None)
    booking_url: str | None = None
    # The agent's own Slack incoming webhook ("" removes it).
    slack_webhook_url: str | None = None


def check_booking_url(value: str) -> str | None:
    """A scheduling page address (e.g. https://calendly.com/ana/30min) as stored, None for an
    empty one; ValueError saying what is wrong otherwise. It is sent to leads inside messages,
    so only plain https addresses with a real host pass."""
    url = value.strip()
    if not url:
        return None
    if len(url) > MAX_BOOKING_URL:
        raise ValueError(f"at most {MAX_BOOKING_URL} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError("not a web address") from None
    if (
        parts.scheme != "https"
        or "." not in host
        or parts.username is not None
        or parts.password is not None
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        raise ValueError("an https:// address such as https://calendly.com/your-name/30min")
    return url


def _member(user: User) -> Member:
    return Member(
        id=user.id,  # type: ignore[arg-type]
        email=user.email,
        full_name=user.full_name,
        phone=user.phone,
        role=user.role,
        capacity=user.capacity,
        specialties=list(user.specialties),
        timezone=user.timezone,
        working_hours=dict(user.working_hours),
        active=user.active,
        last_login_at=user.last_login_at,
        booking_url=user.booking_url,
        slack_webhook=slack.mask(user.slack_webhook_url),
        slack_webhook_error=user.slack_webhook_error,
    )


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "full_name": user.full_name,
        "phone": user.phone,
        "role": str(user.role),
        "capacity": user.capacity,
        "specialties": list(user.specialties),
        "timezone": user.timezone,
        "working_hours": dict(user.working_hours),
        "active": user.active,
        "booking_url": user.booking_url,
        "slack_webhook": slack.mask(user.slack_webhook_url),
    }


def _team_user(session: Session, viewer: Viewer, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.tenant_id != viewer.tenant_id:
        raise NotFound("No such team member.")
    return user


def _validated(changes: MemberChanges, viewer: Viewer) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    if changes.full_name is not None:
        name = changes.full_name.strip()
        if not name or len(name) > 200:
            problems["full_name"] = "1 to 200 characters"
        values["full_name"] = name
    if changes.phone is not None:
        phone = changes.phone.strip()
        if len(phone) > 20:
            problems["phone"] = "at most 20 characters"
        values["phone"] = phone or None
    if changes.role is not None:
        if changes.role not in assignable_roles(viewer):
            problems["role"] = "one of " + ", ".join(assignable_roles(viewer))
        values["role"] = Role(changes.role)
    if changes.capacity is not None:
        if not 0 <= changes.capacity <= 1000:
            problems["capacity"] = "between 0 and 1000 open leads"
        values["capacity"] = changes.capacity
    if changes.specialties is not None:
        cleaned = [s.strip() for s in changes.specialties if s.strip()]
        if len(cleaned) > MAX_SPECIALTIES or any(len(s) > 40 for s in cleaned):
            problems["specialties"] = f"at most {MAX_SPECIALTIES}, each at most 40 characters"
        values["specialties"] = cleaned
    if changes.timezone is not None:
        try:
            values["timezone"] = accounts.check_timezone(changes.timezone)
        except ValidationFailed:
            problems["timezone"] = "an IANA name such as America/Chicago"
    if changes.working_hours is not None:
        hours: dict[str, list[str]] = {}
        for day, span in changes.working_hours.items():
            valid = (
                day in DAYS
                and isinstance(span, list | tuple)
                and len(span) == 2
                and all(isinstance(t, str) and HHMM.match(t) for t in span)
                and span[0] < span[1]
            )
            if not valid:
                problems["working_hours"] = 'e.g. {"mon": ["09:00", "17:00"]}, start before end'
                break
            hours[day] = [span[0], span[1]]
        values["working_hours"] = hours
    if changes.booking_url is not None:
        try:
            values["booking_url"] = check_booking_url(changes.booking_url)
        except ValueError as exc:
            problems["booking_url"] = str(exc)
    if changes.slack_webhook_url is not None:
        try:
            values["slack_webhook_url"] = slack.check_webhook_url(
                changes.slack_webhook_url, allow_loopback_http=not is_production()
            )
        except ValueError as exc:
            problems["slack_webhook_url"] = str(exc)
    if problems:
        raise ValidationFailed("Some fields are invalid.", fields=problems)
    return values


def _active_managers(session: Session, tenant_id: int) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(User)
            .where(
                col(User.tenant_id) == tenant_id,
                col(User.active).is_(True),
                col(User.role).in_([Role.MANAGER, Role.ADMIN]),
            )
        ).scalar_one()
    )


def list_team(session: Session, *, viewer: Viewer) -> list[Member]:
    require_manager(viewer, "see the team")
    users = session.execute(
        select(User)
        .where(col(User.tenant_id) == viewer.tenant_id)
        .order_by(col(User.active).desc(), col(User.full_name))
    ).scalars()
    return [_member(u) for u in users]


def temporary_password() -> str:
    return secrets.token_urlsafe(12)


def add_member(
    session: Session,
    *,
    viewer: Viewer,
    email: str,
    full_name: str,
    role: Role,
    password: str | None = None,
    changes: MemberChanges | None = None,
) -> tuple[Member, str]:
    """Create a team member; returns the member and the password to hand over (a generated
    one when none was given). The password is shown once and stored only as a hash."""
    require_manager(viewer, "add team members")
    values = _validated(MemberChanges(full_name=full_name, role=role), viewer)
    extra = _validated(changes, viewer) if changes else {}
    extra.pop("role", None)
    extra.pop("full_name", None)
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    password = password or temporary_password()
    user = accounts.create_user(
        session,
        tenant=tenant,
        email=email,
        password=password,
        role=values["role"],
        full_name=values["full_name"],
        **extra,
    )
    audit.record(
        session,
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"email": user.email, **_snapshot(user)},
    )
    return _member(user), password


def update_member(
    session: Session, *, viewer: Viewer, user_id: int, changes: MemberChanges
) -> Member:
    """Change a member's profile or role (audited with before and after)."""
    require_manager(viewer, "change team members")
    user = _team_user(session, viewer, user_id)
    values = _validated(changes, viewer)
    if user.role == Role.ADMIN and not viewer.is_admin:
        raise Forbidden("Only an admin can change an admin.")
    before = _snapshot(user)
    demoting = "role" in values and values["role"] == Role.AGENT and user.role != Role.AGENT
    if demoting and user.active and _active_managers(session, viewer.tenant_id) <= 1:
        raise Conflict("A tenant needs at least one active manager; promote someone else first.")
    if "slack_webhook_url" in values and values["slack_webhook_url"] != user.slack_webhook_url:
        # A new address deserves a fresh try: forget the old one's refusal and let its
        # held alerts go.
        user.slack_webhook_error = None
        release_held_alerts(session, tenant_id=viewer.tenant_id, user_id=user_id)
    for name, value in values.items():
        setattr(user, name, value)
    after = _snapshot(user)
    if after != before:
        action = "user.role_changed" if before["role"] != after["role"] else "user.updated"
        audit.record(
            session,
            action=action,
            entity_type="user",
            entity_id=user.id,
            tenant_id=viewer.tenant_id,
            actor=viewer,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return _member(user)


def set_active(
    session: Session, *, viewer: Viewer, user_id: int, active: bool, now: datetime
) -> Member:
    """Deactivate (signs them out everywhere and revokes their agent keys) or reactivate."""
    require_manager(viewer, "deactivate team members")
    user = _team_user(session, viewer, user_id)
    if user.active == active:
        return _member(user)
    if not active:
        if user.id == viewer.user_id:
            raise Conflict("You cannot deactivate yourself.")
        if user.role == Role.ADMIN and not viewer.is_admin:
            raise Forbidden("Only an admin can deactivate an admin.")
        if (
            user.role in (Role.MANAGER, Role.ADMIN)
            and _active_managers(session, viewer.tenant_id) <= 1
        ):
            raise Conflict("A tenant needs at least one active manager.")
        revoke_user_sessions(session, user_id=user.id, now=now)  # type: ignore[arg-type]
        session.execute(
            update(ApiKey)
            .where(col(ApiKey.user_id) == user.id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=now)
        )
    user.active = active
    audit.record(
        session,
        action="user.activated" if active else "user.deactivated",
        entity_type="user",
        entity_id=user.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        before={"active": not active},
        after={"active": active},
    )
    return _member(user)


def reset_password(session: Session, *, viewer: Viewer, user_id: int, now: datetime) -> str:
    """A new temporary password for a member (shown once); their sessions end."""
    require_manager(viewer, "reset passwords")
    user = _team_user(session, viewer, user_id)
    if user.role == Role.ADMIN and not viewer.is_admin:
        raise Forbidden("Only an admin can reset an admin's password.")
    password = temporary_password()
    user.password_hash = hash_password(password)
    revoke_user_sessions(session, user_id=user.id, now=now)  # type: ignore[arg-type]
    audit.record(
        session,
        action="user.password_reset",
        entity_type="user",
        entity_id=user.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
    )
    return password
