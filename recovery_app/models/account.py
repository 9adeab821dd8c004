from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    json_field,
    str_field,
    when_field,
)
from recovery_app.models.enums import Role


class User(SQLModel, table=True):
    """An agent, manager or admin; signs in with email + password."""

    __tablename__ = "users"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    email: str = str_field(254, nullable=False)
    full_name: str = str_field(200, "", nullable=False)
    phone: str | None = str_field(20)
    # The agent's scheduling page (https, e.g. Calendly): the `{{booking_link}}` of their leads.
    booking_url: str | None = str_field(500)
    # The agent's own Slack incoming webhook: copies of the office's alerts about their leads.
    # A secret (it posts to their channel), so pages show it masked.
    slack_webhook_url: str | None = str_field(500)
    # Why Slack refused that URL for good (e.g. "404 no_service"); nothing is posted to it
    # until it is changed. Cleared when the URL changes.
    slack_webhook_error: str | None = str_field(500)
    password_hash: str | None = str_field(255)
    role: Role = str_field(16, Role.AGENT, nullable=False)
    # How many open leads routing may give this agent at most.
    capacity: int = Field(default=50, nullable=False)
    specialties: list = json_field(list)
    timezone: str = str_field(64, "America/New_York", nullable=False)
    working_hours: dict = json_field()
    active: bool = Field(default=True, nullable=False)
    last_login_at: datetime | None = when_field()
    # Round-robin routing gives the next lead to whoever got one longest ago.
    last_assigned_at: datetime | None = when_field()
    created_at: datetime = created_field()

    __table_args__ = (
        UniqueConstraint("email", name="uq_users_email"),
        Index("ix_users_tenant_role", "tenant_id", "role"),
    )


class ApiKey(SQLModel, table=True):
    """A bearer key for the REST API and lead webhooks; only its hash is stored."""

    __tablename__ = "api_keys"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    # Agent keys act as this user (they see only that agent's leads).
    user_id: int | None = fk_field("users.id", nullable=True)
    name: str = str_field(120, "", nullable=False)
    prefix: str = str_field(16, nullable=False)
    key_hash: str = str_field(64, nullable=False)
    role: Role = str_field(16, Role.MANAGER, nullable=False)
    created_by_user_id: int | None = fk_field("users.id", nullable=True)
    created_at: datetime = created_field()
    last_used_at: datetime | None = when_field()
    revoked_at: datetime | None = when_field()

    __table_args__ = (
        UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        Index("ix_api_keys_tenant", "tenant_id"),
    )


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    database leak does not hand out sessions."""

    __tablename__ = "user_sessions"

    id: int | None = id_field()
    token_hash: str = str_field(64, nullable=False)
    user_id: int = fk_field("users.id")
    # The tenant the session acts in: the user's own, or any tenant an admin switched to.
    tenant_id: int = fk_field("tenants.id")
    created_at: datetime = created_field()
    last_seen_at: datetime = created_field()
    # Idle expiry: moves forward while the session is used.
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    revoked_at: datetime | None = when_field()
    ip: str | None = str_field(64)
    user_agent: str | None = str_field(255)

    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
        Index("ix_user_sessions_user", "user_id"),
    )


class SignInAttempt(SQLModel, table=True):
    """Failed and successful sign-ins (and demo sandbox requests), for throttling."""

    __tablename__ = "sign_in_attempts"

    id: int | None = id_field()
    kind: str = str_field(16, "password", nullable=False)
    # Lower-cased as typed, whether or not such a user exists (no "user exists" oracle).
    email: str | None = str_field(254)
    ip: str | None = str_field(64)
    succeeded: bool = Field(default=False, nullable=False)
    created_at: datetime = created_field()

    __table_args__ = (
        Index("ix_sign_in_attempts_email_created", "email", "created_at"),
        Index("ix_sign_in_attempts_kind_ip_created", "kind", "ip", "created_at"),
    )


class Notification(SQLModel, table=True):
    """Something a user should see: a lead assigned or offered to them, a reply, an escalation."""

    __tablename__ = "notifications"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    user_id: int = fk_field("users.id")
    kind: str = str_field(32, nullable=False)
    lead_id: int | None = fk_field("leads.id", nullable=True, ondelete="CASCADE")
    title: str = str_field(200, nullable=False)
    body: str = str_field(500, "", nullable=False)
    created_at: datetime = created_field()
    read_at: datetime | None = when_field()

    __table_args__ = (
        Index("ix_notifications_user_read_created", "user_id", "read_at", "created_at"),
    )


class LeadOffer(SQLModel, table=True):
    """First-to-claim routing: a lead offered to an agent until it is claimed or expires."""

    __tablename__ = "lead_offers"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    user_id: int = fk_field("users.id")
    offered_at: datetime = created_field()
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # open -> claimed (by this agent) | lost (someone else claimed) | expired
    status: str = str_field(16, "open", nullable=False)

    __table_args__ = (
        UniqueConstraint("lead_id", "user_id", name="uq_lead_offers_lead_user"),
        Index("ix_lead_offers_status_expires", "status", "expires_at"),
        # An agent's open offers, for the leads they may see.
        Index("ix_lead_offers_user_status", "user_id", "status"),
    )
