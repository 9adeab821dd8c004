from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    str_field,
    text_field,
    when_field,
)
from recovery_app.models.enums import Channel, Direction, MessageCategory, MessageStatus

# A recovery touch (analytics.conversions.touch_clauses): a marketing message we sent.
TOUCH_SQL = "direction = 'outbound' AND category = 'marketing' AND sent_at IS NOT NULL"
# Rows a person is waiting for (a new lead's first text, an agent's reply, an opt-out
# confirmation, alerts): the dispatcher claims these before bulk (repository.claim_due).
URGENT_SQL = "category <> 'marketing'"
# Texts we sent: which office last texted a phone from a number (inbound attribution).
OUTBOUND_SMS_SQL = "direction = 'outbound' AND channel = 'sms'"


class Message(SQLModel, table=True):
    """Every SMS and email, in and out. The outbox is the `queued` outbound rows."""

    __tablename__ = "messages"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    # The lead the message is to or from; NULL for messages to our own staff (agent alerts).
    lead_id: int | None = fk_field("leads.id", nullable=True, ondelete="CASCADE")
    recipient_user_id: int | None = fk_field("users.id", nullable=True)
    channel: Channel = str_field(8, nullable=False)
    direction: Direction = str_field(8, nullable=False)
    category: MessageCategory = str_field(16, MessageCategory.CONVERSATIONAL, nullable=False)
    status: MessageStatus = str_field(16, MessageStatus.QUEUED, nullable=False)
    to_address: str | None = str_field(254)
    from_address: str | None = str_field(254)
    subject: str | None = str_field(255)
    body: str = text_field("", nullable=False)
    template_id: int | None = fk_field("templates.id", nullable=True)
    campaign_id: int | None = fk_field("campaigns.id", nullable=True)
    campaign_step_id: int | None = fk_field("campaign_steps.id", nullable=True)
    enrollment_id: int | None = fk_field("enrollments.id", nullable=True)
    sent_by_user_id: int | None = fk_field("users.id", nullable=True)
    # One send per cause, whatever retries or duplicate webhooks do, e.g. "step:<enrollment>:<n>"
    # or "in:twilio:<MessageSid>" for inbound rows.
    idempotency_key: str = str_field(200, nullable=False)
    provider: str | None = str_field(16)
    provider_id: str | None = str_field(64)
    error_code: str | None = str_field(32)
    error_message: str | None = str_field(500)
    # Why a queued message is waiting (e.g. "quiet_hours"); NULL when it is free to go.
    hold_reason: str | None = str_field(255)
    segments: int | None = Field(default=None)
    cost_microdollars: int | None = Field(default=None, sa_type=BigInteger())
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = when_field()
    request_id: str | None = str_field(64)
    # Which path wrote the body: "template", "ai" (a fresh AI draft) or "ai_cached" (a reused one).
    drafted_by: str | None = str_field(16)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    sent_at: datetime | None = when_field()
    delivered_at: datetime | None = when_field()
    opened_at: datetime | None = when_field()
    clicked_at: datetime | None = when_field()
    replied_at: datetime | None = when_field()
    failed_at: datetime | None = when_field()

    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_messages_idempotency_key"),
        # The dispatcher's claim: due outbound rows in one status, oldest first.
        Index("ix_messages_status_next_attempt", "status", "next_attempt_at"),
        # ... and the part of it a person is waiting for, so their rows are found first even
        # behind a campaign of thousands due at the same moment.
        Index(
            "ix_messages_urgent_due",
            "status",
            "next_attempt_at",
            postgresql_where=text(URGENT_SQL),
            sqlite_where=text(URGENT_SQL),
        ),
        Index(
            "ix_messages_sms_to_from",
            "to_address",
            "from_address",
            "id",
            postgresql_where=text(OUTBOUND_SMS_SQL),
            sqlite_where=text(OUTBOUND_SMS_SQL),
        ),
        Index("ix_messages_lead_created", "lead_id", "created_at"),
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        # What an office sent in a time range: the daily rollup, and ROI's costs for the days
        # the rollup does not hold for good yet.
        Index("ix_messages_tenant_sent", "tenant_id", "sent_at"),
        # ROI's attribution: a deal's touches are the lead's recovery messages sent in the
        # window before it closed. Partial (recovery messages only) and covering on
        # PostgreSQL, so each deal is one index-only range read (bench/manager.py: 850 ms for
        # a month's 19,000 deals by a scan of 5M messages, 64 ms with it).
        Index(
            "ix_messages_touches",
            "lead_id",
            "sent_at",
            postgresql_include=["id", "tenant_id", "campaign_id", "channel"],
            postgresql_where=text(TOUCH_SQL),
            sqlite_where=text(TOUCH_SQL),
        ),
        Index("ix_messages_provider_id", "provider", "provider_id"),
        Index("ix_messages_campaign", "campaign_id", "status"),
        # The dashboard's "failed sends today", every second: partial, so it holds the few
        # failures rather than every message.
        Index(
            "ix_messages_tenant_failed",
            "tenant_id",
            "failed_at",
            postgresql_where=text("failed_at IS NOT NULL"),
            sqlite_where=text("failed_at IS NOT NULL"),
        ),
    )
