"""Tenants and users: creation rules shared by the CLI, the demo seeder and the team page."""

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from recovery_app.domain.accounts import repository
from recovery_app.domain.accounts.passwords import hash_password
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.compliance import revocation
from recovery_app.errors import Conflict, ValidationFailed
from recovery_app.models import Channel, Role, Tenant, User

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


def check_timezone(name: str, *, field: str = "timezone") -> str:
    """`name` if it is an IANA time zone (e.g. America/Chicago), else ValidationFailed."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"Unknown time zone {name!r}.", fields={field: "an IANA name such as America/Chicago"}
        ) from None
    return name


def normalize_email(email: str, *, field: str = "email") -> str:
    """The address lower-cased and checked for shape (no DNS lookup)."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"Invalid email address {email!r}.", fields={field: str(exc)}
        ) from None


def create_tenant(
    session: Session,
    *,
    name: str,
    location_id: str,
    timezone: str,
    is_demo: bool = False,
    **extra: Any,
) -> Tenant:
    """A new tenant; `location_id` must be unused (it is how webhooks find the tenant)."""
    name, location_id = name.strip(), location_id.strip()
    if not name:
        raise ValidationFailed("A tenant needs a name.", fields={"name": "required"})
    if not location_id:
        raise ValidationFailed("A tenant needs a location id.", fields={"location_id": "required"})
    check_timezone(timezone)
    if repository.tenant_by_location(session, location_id) is not None:
        raise Conflict(f"A tenant with location id {location_id!r} already exists.")
    tenant = Tenant(name=name, location_id=location_id, timezone=timezone, is_demo=is_demo, **extra)
    session.add(tenant)
    session.flush()
    return tenant


def create_user(
    session: Session,
    *,
    tenant: Tenant,
    email: str,
    password: str | None,
    role: Role,
    full_name: str = "",
    **extra: Any,
) -> User:
    """A new active user with an argon2 password hash (None: cannot sign in with a password,
    as in demo sandboxes); emails are unique across tenants."""
    email = normalize_email(email)
    if password is not None and not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            "Password too short or too long.",
            fields={"password": f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"},
        )
    if repository.user_by_email(session, email) is not None:
        raise Conflict(f"A user with email {email} already exists.")
    assert tenant.id is not None, "the tenant must be flushed first"
    user = User(
        tenant_id=tenant.id,
        email=email,
        full_name=full_name.strip(),
        password_hash=hash_password(password) if password is not None else None,
        role=Role(role),
        timezone=str(extra.pop("timezone", tenant.timezone)),
        **extra,
    )
    session.add(user)
    session.flush()
    return user


def delete_tenant(session: Session, *, tenant_id: int) -> None:
    """Delete a tenant and every row that belongs to it, dependents before what they point to
    (campaign steps belong to the tenant through their campaign)."""
    from recovery_app.models import Campaign, CampaignStep

    campaign_ids = select(col(Campaign.id)).where(col(Campaign.tenant_id) == tenant_id)
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name == CampaignStep.__tablename__:
            session.execute(delete(table).where(table.c.campaign_id.in_(campaign_ids)))
        elif table.name != Tenant.__tablename__ and "tenant_id" in table.c:
            session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    session.execute(delete(Tenant).where(col(Tenant.id) == tenant_id))


def set_agent_pool_visible(session: Session, *, viewer: Viewer, visible: bool) -> None:
    """Let (or stop) the tenant's agents see and claim unassigned leads (managers; audited)."""
    require_manager(viewer, "change tenant settings")
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    if tenant.agent_pool_visible == visible:
        return
    tenant.agent_pool_visible = visible
    _audit_setting(session, tenant, viewer, "agent_pool_visible", not visible, visible)


def _audit_setting(
    session: Session, tenant: Tenant, viewer: Viewer, key: str, before: object, after: object
) -> None:
    audit.record(
        session,
        action="tenant.settings_changed",
        entity_type="tenant",
        entity_id=tenant.id,
        tenant_id=tenant.id,
        actor=viewer,
        before={key: before},
        after={key: after},
    )


# Tenant preference: when a booked appointment is canceled, the nurture it stopped carries on.
RESUME_NURTURE_ON_CANCEL = "resume_nurture_on_cancel"


def set_revoke_all(session: Session, *, viewer: Viewer, channel: Channel, stops: bool) -> None:
    """Managers: whether an opt-out on the other channel also stops marketing on `channel`
    (the FCC's revoke-all rule; yes unless the office exempts the channel); audited."""
    require_manager(viewer, "change tenant settings")
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    exempt = revocation.exempt_channels(tenant)
    before = str(channel) not in exempt
    if before == stops:
        return
    exempt = exempt - {str(channel)} if stops else exempt | {str(channel)}
    tenant.preferences = dict(tenant.preferences or {}) | {revocation.EXEMPT: sorted(exempt)}
    _audit_setting(session, tenant, viewer, f"revoke_all_{channel}", before, stops)


def resume_nurture_on_cancel(tenant: Tenant) -> bool:
    """Whether a canceled appointment resumes the nurture it stopped (default: yes)."""
    return bool((tenant.preferences or {}).get(RESUME_NURTURE_ON_CANCEL, True))


def set_resume_nurture_on_cancel(session: Session, *, viewer: Viewer, resume: bool) -> None:
    """Managers: resume (or not) a lead's nurture when it cancels its appointment; audited."""
    require_manager(viewer, "change tenant settings")
    tenant = session.get(Tenant, viewer.tenant_id)
    assert tenant is not None
    before = resume_nurture_on_cancel(tenant)
    if before == resume:
        return
    tenant.preferences = dict(tenant.preferences or {}) | {RESUME_NURTURE_ON_CANCEL: resume}
    _audit_setting(session, tenant, viewer, RESUME_NURTURE_ON_CANCEL, before, resume)
