from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Text
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.models.base import (
    BigId,
    created_field,
    fk_field,
    id_field,
    str_field,
    text_field,
)
from recovery_app.models.enums import Channel


class Conversion(SQLModel, table=True):
    """A closed deal (a sale, a bound policy) and what it is credited to, for ROI."""

    __tablename__ = "conversions"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    value_cents: int = Field(default=0, sa_type=BigInteger(), nullable=False)
    closed_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    attributed_campaign_id: int | None = fk_field("campaigns.id", nullable=True)
    attributed_channel: Channel | None = str_field(8)
    attributed_message_id: int | None = fk_field("messages.id", nullable=True)
    recorded_by_user_id: int | None = fk_field("users.id", nullable=True)
    note: str | None = text_field()
    created_at: datetime = created_field()

    __table_args__ = (
        Index("ix_conversions_tenant_closed", "tenant_id", "closed_at"),
        Index("ix_conversions_lead", "lead_id"),
        Index("ix_conversions_campaign", "attributed_campaign_id"),
    )


class ConversionCredit(SQLModel, table=True):
    """One touch a deal credits under one attribution model: the first or the last recovery
    message in its window (one row each), or every one of them (linear, `share` 1/n each).

    Database triggers keep these rows equal to what the messages say (migration 0017): a deal
    recorded, changed or deleted, a recovery message sent, changed or deleted, a lead's source
    or agent changed, the office's attribution window changed. ROI sums the rows of a range
    instead of ranking every deal's messages. The application never writes them.
    """

    __tablename__ = "conversion_credits"

    conversion_id: int = Field(
        foreign_key="conversions.id", ondelete="CASCADE", sa_type=BigId, primary_key=True
    )
    model: str = Field(sa_type=Text(), primary_key=True)
    message_id: int = Field(sa_type=BigInteger(), primary_key=True)
    tenant_id: int = Field(sa_type=BigInteger(), nullable=False)
    closed_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    lead_id: int = Field(sa_type=BigInteger(), nullable=False)
    campaign_id: int | None = Field(default=None, sa_type=BigInteger(), nullable=True)
    channel: str = Field(sa_type=Text(), nullable=False)
    # The lead's, as it is now (the triggers follow changes), like the live join did.
    source: str = Field(sa_type=Text(), nullable=False)
    assigned_user_id: int | None = Field(default=None, sa_type=BigInteger(), nullable=True)
    # The deal's share this touch carries (1, or 1/n under linear) and its cents.
    share: float = Field(sa_type=Float(), nullable=False)
    credit: float = Field(sa_type=Float(), nullable=False)

    __table_args__ = (
        # A range of one office under one model, read from the index alone on PostgreSQL.
        Index(
            "ix_conversion_credits_range",
            "tenant_id",
            "model",
            "closed_at",
            postgresql_include=[
                "campaign_id",
                "channel",
                "source",
                "assigned_user_id",
                "share",
                "credit",
            ],
        ),
        # A lead's source or agent changed: its rows.
        Index("ix_conversion_credits_lead", "lead_id"),
    )
