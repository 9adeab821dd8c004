"""Running totals the manager pages read instead of millions of rows: sends and replies per
office, UTC hour, channel and lead time zone (the reply-rate grid); each campaign's message
figures (the campaign list); the factor points of each office's open leads per owner (what the
factors add).

Each total is two tables: the totals, and an append-only log of changes that database
triggers write in the same statement as the change to a message or a lead (migration 0016),
so no write path can forget them and concurrent writers never wait on one hot row. A read is
totals + log; the hourly rollup job folds the log into the totals (domain/metrics/
running_totals.py). Rows here are never edited by the application.
"""

from typing import Any

from sqlalchemy import BigInteger, Index, Numeric, Text
from sqlmodel import Field, SQLModel

from recovery_app.models.base import id_field

# What `timezone` holds for a lead without one (the office's zone then applies).
NO_ZONE = ""
# What `owner_id` holds for a lead nobody is assigned.
NO_OWNER = 0


def _count() -> Any:
    return Field(default=0, sa_type=BigInteger(), nullable=False)


class ReplyHourTotal(SQLModel, table=True):
    """Outbound messages to the office's leads sent in one UTC hour (hours since the epoch) on
    one channel, to leads of one time zone, and how many of them the lead answered."""

    __tablename__ = "reply_hour_totals"

    tenant_id: int = Field(sa_type=BigInteger(), primary_key=True)
    hour: int = Field(sa_type=BigInteger(), primary_key=True)
    channel: str = Field(sa_type=Text(), primary_key=True)
    timezone: str = Field(sa_type=Text(), primary_key=True)
    sends: int = _count()
    replies: int = _count()


class ReplyHourDelta(SQLModel, table=True):
    """A change to `reply_hour_totals` not folded in yet (negative when a message or a lead's
    time zone moved out of the cell)."""

    __tablename__ = "reply_hour_deltas"

    id: int | None = id_field()
    tenant_id: int = Field(sa_type=BigInteger(), nullable=False)
    hour: int = Field(sa_type=BigInteger(), nullable=False)
    channel: str = Field(sa_type=Text(), nullable=False)
    timezone: str = Field(sa_type=Text(), nullable=False)
    sends: int = _count()
    replies: int = _count()

    __table_args__ = (Index("ix_reply_hour_deltas_tenant_hour", "tenant_id", "hour"),)


class CampaignMessageTotal(SQLModel, table=True):
    """A campaign's outbound messages: how many, sent, delivered, answered, and their cost."""

    __tablename__ = "campaign_message_totals"

    tenant_id: int = Field(sa_type=BigInteger(), primary_key=True)
    campaign_id: int = Field(sa_type=BigInteger(), primary_key=True)
    messages: int = _count()
    sent: int = _count()
    delivered: int = _count()
    replied: int = _count()
    cost_microdollars: int = _count()


class CampaignMessageDelta(SQLModel, table=True):
    """A change to `campaign_message_totals` not folded in yet."""

    __tablename__ = "campaign_message_deltas"

    id: int | None = id_field()
    tenant_id: int = Field(sa_type=BigInteger(), nullable=False)
    campaign_id: int = Field(sa_type=BigInteger(), nullable=False)
    messages: int = _count()
    sent: int = _count()
    delivered: int = _count()
    replied: int = _count()
    cost_microdollars: int = _count()

    __table_args__ = (Index("ix_campaign_message_deltas_tenant", "tenant_id"),)


class LeadFactorTotal(SQLModel, table=True):
    """Over the office's open leads assigned to `owner_id` (0: nobody): how often a scoring
    factor appears in their stored factors, how many of those carry points, and the points."""

    __tablename__ = "lead_factor_totals"

    tenant_id: int = Field(sa_type=BigInteger(), primary_key=True)
    owner_id: int = Field(sa_type=BigInteger(), primary_key=True)
    factor: str = Field(sa_type=Text(), primary_key=True)
    leads: int = _count()
    scored: int = _count()
    points: float = Field(default=0, sa_type=Numeric(), nullable=False)


class LeadFactorDelta(SQLModel, table=True):
    """A change to `lead_factor_totals` not folded in yet."""

    __tablename__ = "lead_factor_deltas"

    id: int | None = id_field()
    tenant_id: int = Field(sa_type=BigInteger(), nullable=False)
    owner_id: int = Field(sa_type=BigInteger(), nullable=False)
    factor: str = Field(sa_type=Text(), nullable=False)
    leads: int = _count()
    scored: int = _count()
    points: float = Field(default=0, sa_type=Numeric(), nullable=False)

    __table_args__ = (Index("ix_lead_factor_deltas_tenant", "tenant_id"),)


__all__ = [
    "NO_OWNER",
    "NO_ZONE",
    "CampaignMessageDelta",
    "CampaignMessageTotal",
    "LeadFactorDelta",
    "LeadFactorTotal",
    "ReplyHourDelta",
    "ReplyHourTotal",
]
