from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.models.base import created_field, fk_field, id_field, str_field, text_field
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
