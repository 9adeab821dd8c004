"""Sign-in, sessions and throttling.

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, an
idle expiry that slides while the session is used, and a revocation stamp. Sign-in failures
are counted per typed email, whether or not the user exists, so the answer never tells an
attacker which emails have accounts.
"""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.passwords import hash_password, needs_rehash, verify_password
from recovery_app.domain.accounts.permissions import require_admin
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.errors import Unauthenticated, ValidationFailed
from recovery_app.models import Role, SignInAttempt, Tenant, User, UserSession
from recovery_app.settings import get_settings

SESSION_COOKIE = "recovery_session"
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
# A session's last_seen_at is written at most this often, not on every click.
TOUCH_EVERY = timedelta(minutes=1)
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both answers take as long."""
    return hash_password(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_timeout() -> timedelta:
    return timedelta(hours=get_settings().session_idle_hours)


class SignInStatus(StrEnum):
    OK = "ok"
    INVALID = "invalid"
    THROTTLED = "throttled"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    """What a sign-in attempt came to. The caller commits in every case: failures are
    recorded for throttling even though nobody signs in."""

    status: SignInStatus
    token: str | None = None
    user_id: int | None = None
    retry_after_seconds: int = 0

    @property
    def message(self) -> str:
        return sign_in_message(self.status, wait_minutes=-(-self.retry_after_seconds // 60))


def sign_in_message(code: str, *, wait_minutes: int = 0) -> str:
    """What the sign-in page says for a result or redirect reason `code`."""
    if code == SignInStatus.THROTTLED:
        minutes = max(1, wait_minutes)
        plural = "s" if minutes != 1 else ""
        return (
            f"Too many failed sign-ins for this email. Wait {minutes} minute{plural} and try again."
        )
    return SIGN_IN_MESSAGES.get(code, "Please sign in.")


SIGN_IN_MESSAGES = {
    SignInStatus.INVALID: "Email or password is incorrect.",
    SignInStatus.DISABLED: "This account has been deactivated. Ask your manager to turn it back on.",
    "sign_in": "Please sign in to continue.",
    "expired": "Your session ended after a while without activity. Please sign in again.",
    "signed_out": "You have been signed out.",
    "too_long": "That email or password is too long.",
    "origin": "Please sign in from this site's own sign-in page.",
    "demo_disabled": "The demo is not enabled on this server.",
    "demo_throttled": "Too many demo sandboxes from your address in the last hour; try again later.",
    "demo_expired": "Your demo sandbox has expired. Start a new one.",
}


def _recent_failures(session: Session, email: str, now: datetime) -> list[datetime]:
    """Failed attempts for `email` inside the window and after its last success."""
    since = now - FAILURE_WINDOW
    last_success = session.execute(
        select(func.max(SignInAttempt.created_at)).where(
            col(SignInAttempt.email) == email,
            col(SignInAttempt.kind) == "password",
            col(SignInAttempt.succeeded).is_(True),
            col(SignInAttempt.created_at) >= since,
        )
    ).scalar_one()
    if last_success is not None:
        since = max(since, last_success)
    stmt = (
        select(col(SignInAttempt.created_at))
        .where(
            col(SignInAttempt.email) == email,
            col(SignInAttempt.kind) == "password",
            col(SignInAttempt.succeeded).is_(False),
            col(SignInAttempt.created_at) >= since,
        )
        .order_by(col(SignInAttempt.created_at))
    )
    return list(session.execute(stmt).scalars())


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SignInOutcome:
    """Check the credentials and open a session. Never raises for a wrong password; the
    outcome says what happened and the caller must commit either way."""
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationFailed(
            "That email is too long.", fields={"email": f"at most {MAX_EMAIL_LENGTH} characters"}
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            "That password is too long.",
            fields={"password": f"at most {MAX_PASSWORD_LENGTH} characters"},
        )
    typed = email.strip().lower()
    failures = _recent_failures(session, typed, now)
    if len(failures) >= MAX_FAILURES:
        wait = failures[-MAX_FAILURES] + FAILURE_WINDOW - now
        return SignInOutcome(
            SignInStatus.THROTTLED, retry_after_seconds=max(1, int(wait.total_seconds()))
        )

    user = session.execute(select(User).where(col(User.email) == typed)).scalar_one_or_none()
    valid = verify_password(
        user.password_hash if user and user.password_hash else _dummy_hash(), password
    )
    attempt = SignInAttempt(email=typed, ip=ip, succeeded=False, created_at=now)
    session.add(attempt)
    if user is None or not valid:
        if user is not None:
            audit.record(
                session,
                action="user.sign_in_failed",
                entity_type="user",
                entity_id=user.id,
                tenant_id=user.tenant_id,
                actor_label=f"ip:{ip or 'unknown'}",
            )
        return SignInOutcome(SignInStatus.INVALID)
    if not user.active:
        return SignInOutcome(SignInStatus.DISABLED)

    attempt.succeeded = True
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    token = open_session(
        session, user=user, tenant_id=user.tenant_id, now=now, ip=ip, user_agent=user_agent
    )
    audit.record(
        session,
        action="user.signed_in",
        entity_type="user",
        entity_id=user.id,
        tenant_id=user.tenant_id,
        actor_user_id=user.id,
        after={"ip": ip},
    )
    return SignInOutcome(SignInStatus.OK, token=token, user_id=user.id)


def open_session(
    session: Session,
    *,
    user: User,
    tenant_id: int,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> str:
    """Create a session for `user` and return its token (shown to nobody but the cookie)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,  # type: ignore[arg-type]
            tenant_id=tenant_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + idle_timeout(),
            ip=ip,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    session.flush()
    return token


def resolve_session(session: Session, *, token: str | None, now: datetime) -> Viewer:
    """The viewer behind a session token, or Unauthenticated saying why not. Slides the idle
    expiry forward (at most one write a minute)."""
    if not token or len(token) > 128:
        raise Unauthenticated("Please sign in.")
    row = session.execute(
        select(UserSession, User, Tenant)
        .join(User, col(User.id) == col(UserSession.user_id))
        .join(Tenant, col(Tenant.id) == col(UserSession.tenant_id))
        .where(col(UserSession.token_hash) == token_hash(token))
    ).first()
    if row is None:
        raise Unauthenticated("Please sign in.")
    user_session, user, tenant = row
    if user_session.revoked_at is not None:
        raise Unauthenticated(
            "You have been signed out. Please sign in again.", reason="signed_out"
        )
    if tenant.demo_expires_at is not None and tenant.demo_expires_at <= now:
        raise Unauthenticated(
            "This demo sandbox has expired. Start a new one.", reason="demo_expired"
        )
    if user_session.expires_at <= now:
        hours = get_settings().session_idle_hours
        raise Unauthenticated(
            f"Your session ended after {hours:g} hours without activity. Please sign in again.",
            reason="expired",
        )
    if not user.active:
        raise Unauthenticated("This account has been deactivated.", reason="disabled")
    if now - user_session.last_seen_at >= TOUCH_EVERY:
        user_session.last_seen_at = now
        user_session.expires_at = now + idle_timeout()
    role = Role(user.role)
    return Viewer(
        tenant_id=tenant.id,  # type: ignore[arg-type]
        role=role,
        user_id=user.id,
        name=user.full_name or user.email,
        email=user.email,
        session_id=user_session.id,
        agent_pool_visible=tenant.agent_pool_visible,
        is_demo=tenant.demo_expires_at is not None,
    )


def sign_out(session: Session, *, token: str | None, now: datetime) -> None:
    """Revoke the session behind `token` (a missing or unknown token is already signed out)."""
    if not token:
        return
    user_session = session.execute(
        select(UserSession).where(col(UserSession.token_hash) == token_hash(token))
    ).scalar_one_or_none()
    if user_session is None or user_session.revoked_at is not None:
        return
    user_session.revoked_at = now
    audit.record(
        session,
        action="user.signed_out",
        entity_type="user",
        entity_id=user_session.user_id,
        tenant_id=user_session.tenant_id,
        actor_user_id=user_session.user_id,
    )


def revoke_user_sessions(session: Session, *, user_id: int, now: datetime) -> None:
    """End every open session of a user (deactivation, password reset)."""
    session.execute(
        update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def switch_session_tenant(session: Session, *, viewer: Viewer, tenant_id: int) -> None:
    """Admins act in any tenant; the choice lives on their session."""
    require_admin(viewer, "switch tenants")
    if session.get(Tenant, tenant_id) is None:
        raise ValidationFailed("No such tenant.", fields={"tenant_id": "unknown"})
    user_session = session.get(UserSession, viewer.session_id)
    assert user_session is not None
    before = user_session.tenant_id
    user_session.tenant_id = tenant_id
    audit.record(
        session,
        action="session.tenant_switched",
        entity_type="user",
        entity_id=viewer.user_id,
        tenant_id=tenant_id,
        actor=viewer,
        before={"tenant_id": before},
        after={"tenant_id": tenant_id},
    )
