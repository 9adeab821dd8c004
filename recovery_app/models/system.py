"""Tables that make the engine safe to retry: the webhook inbox, job windows, the scheduler
lease and the audit trail."""

from datetime import date, datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    json_field,
    str_field,
    text_field,
    when_field,
)


class WebhookFailure(SQLModel, table=True):
    """Webhook calls refused for a missing or wrong signature, counted per provider and day
    (UTC): Settings shows them. A counter, not a row per call, so a flood cannot fill a table."""

    __tablename__ = "webhook_failures"

    id: int | None = id_field()
    provider: str = str_field(32, nullable=False)
    day: date = Field(nullable=False)
    count: int = Field(default=0, nullable=False)
    last_at: datetime = created_field()

    __table_args__ = (UniqueConstraint("provider", "day", name="uq_webhook_failures_provider_day"),)


class WebhookEvent(SQLModel, table=True):
    """Every webhook as received; the unique event id is what makes a replay change nothing."""

    __tablename__ = "webhook_events"

    id: int | None = id_field()
    provider: str = str_field(32, nullable=False)
    event_id: str = str_field(255, nullable=False)
    tenant_id: int | None = fk_field("tenants.id", nullable=True)
    raw_body: str = text_field("", nullable=False)
    headers: dict = json_field()
    # What the first delivery was answered with, so a replay answers the same.
    response: dict = json_field()
    received_at: datetime = created_field()
    handled_at: datetime | None = when_field()
    attempts: int = Field(default=0, nullable=False)
    error: str | None = text_field()

    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_webhook_events_provider_event"),
        Index("ix_webhook_events_pending", "handled_at", "received_at"),
    )


class UnmatchedText(SQLModel, table=True):
    """An inbound text no office could be found for: kept for an admin to assign, never
    dropped. Its opt-out words were honoured when it arrived (on every office texting from
    that number)."""

    __tablename__ = "unmatched_texts"

    id: int | None = id_field()
    webhook_event_id: int = fk_field("webhook_events.id")
    from_phone: str = str_field(20, nullable=False)
    to_number: str = str_field(64, nullable=False)
    body: str = text_field("", nullable=False)
    provider_id: str = str_field(255, nullable=False)
    # "stop", "start", "help", "opt_out" (in free words) or "" for an ordinary text.
    keyword: str = str_field(16, "", nullable=False)
    received_at: datetime = created_field()
    assigned_tenant_id: int | None = fk_field("tenants.id", nullable=True)
    assigned_by_user_id: int | None = fk_field("users.id", nullable=True)
    assigned_at: datetime | None = when_field()

    __table_args__ = (
        UniqueConstraint("webhook_event_id", name="uq_unmatched_texts_event"),
        Index("ix_unmatched_texts_open", "assigned_at", "received_at"),
    )


class JobRun(SQLModel, table=True):
    """One run of a scheduled job for one time window; the unique window is run-once."""

    __tablename__ = "job_runs"

    id: int | None = id_field()
    job_name: str = str_field(64, nullable=False)
    window_start: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    worker: str | None = str_field(128)
    started_at: datetime = created_field()
    finished_at: datetime | None = when_field()
    processed: dict = json_field()
    error: str | None = text_field()

    __table_args__ = (
        UniqueConstraint("job_name", "window_start", name="uq_job_runs_job_window"),
        Index("ix_job_runs_job_started", "job_name", "started_at"),
    )


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduled jobs now; a holder renews before `expires_at` or loses it."""

    __tablename__ = "scheduler_leases"

    name: str = Field(sa_type=String(64), primary_key=True)
    holder: str = str_field(128, nullable=False)
    acquired_at: datetime = created_field()
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class AuditLog(SQLModel, table=True):
    """Who changed consent, opt-outs, roles or campaigns, when, from what to what."""

    __tablename__ = "audit_logs"

    id: int | None = id_field()
    tenant_id: int | None = fk_field("tenants.id", nullable=True)
    actor_user_id: int | None = fk_field("users.id", nullable=True)
    # Who acted when it was not a signed-in user: "api_key:rk_ab12", "webhook:twilio", "system".
    actor_label: str | None = str_field(64)
    action: str = str_field(64, nullable=False)
    entity_type: str = str_field(32, nullable=False)
    entity_id: str | None = str_field(64)
    before: dict = json_field()
    after: dict = json_field()
    request_id: str | None = str_field(64)
    created_at: datetime = created_field()

    __table_args__ = (
        Index("ix_audit_logs_tenant_created", "tenant_id", "created_at"),
        Index("ix_audit_logs_entity", "entity_type", "entity_id"),
    )


class Suppression(SQLModel, table=True):
    """An address we must never message again (erased leads, hard bounces, carrier opt-outs).
    Only a SHA-256 of the normalised address is kept: the promise survives, the data does not."""

    __tablename__ = "suppressions"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    channel: str = str_field(8, nullable=False)
    value_hash: str = str_field(64, nullable=False)
    reason: str = str_field(64, nullable=False)
    created_at: datetime = created_field()

    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "channel", "value_hash", name="uq_suppressions_tenant_channel_hash"
        ),
    )
