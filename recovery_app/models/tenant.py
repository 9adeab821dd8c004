from datetime import datetime, time

from sqlalchemy import Time, UniqueConstraint
from sqlmodel import Field, SQLModel

from recovery_app.models.base import (
    created_field,
    id_field,
    json_field,
    str_field,
    text_field,
    when_field,
)


class Tenant(SQLModel, table=True):
    """A brokerage office or agency (a GoHighLevel "location"); every other row belongs to one."""

    __tablename__ = "tenants"

    id: int | None = id_field()
    name: str = str_field(200, nullable=False)
    location_id: str = str_field(64, nullable=False)
    timezone: str = str_field(64, "America/New_York", nullable=False)
    # Marketing messages are held outside [quiet_hours_end, quiet_hours_start) in the lead's
    # local time; the law's floor (08:00-21:00) is enforced by the compliance guard regardless.
    quiet_hours_start: time = Field(default=time(21, 0), sa_type=Time(), nullable=False)
    quiet_hours_end: time = Field(default=time(8, 0), sa_type=Time(), nullable=False)
    # {"mon": ["09:00", "18:00"], ...}; a missing day means closed.
    business_hours: dict = json_field()
    sender_phone: str | None = str_field(20)
    # More numbers of the office's own (E.164), for more texts per second: each lead is texted
    # from one number of `sender_phone` + these, always the same (messaging/senders.py).
    sender_pool: list = json_field(list)
    sender_email: str | None = str_field(254)
    sender_name: str | None = str_field(120)
    postal_address: str | None = text_field()
    attribution_window_days: int = Field(default=30, nullable=False)
    silence_threshold_hours: int = Field(default=48, nullable=False)
    # Per-temperature overrides of the silence threshold, e.g. {"hot": 4, "warm": 24}.
    silence_overrides: dict = json_field()
    # Small switches that do not deserve a column yet (e.g. {"agents_see_pool": true}).
    preferences: dict = json_field()
    # Region used to read phone numbers written without a country code (ISO 3166, e.g. "US").
    default_region: str = str_field(2, "US", nullable=False)
    # Scoring weights, per-source quality, the tenant's median budget and the last calibration.
    scoring: dict = json_field()
    # "round_robin", or "first_to_claim": offered to several agents, first to claim wins.
    routing_mode: str = str_field(16, "round_robin", nullable=False)
    claim_window_minutes: int = Field(default=5, nullable=False)
    # Managers are alerted when a hot lead has no human touch this long after it came in.
    escalate_after_hours: int = Field(default=24, nullable=False)
    notify_agents_sms: bool = Field(default=False, nullable=False)
    notify_agents_email: bool = Field(default=False, nullable=False)
    # Agents also see (and can claim) unassigned leads of the tenant.
    agent_pool_visible: bool = Field(default=True, nullable=False)
    is_demo: bool = Field(default=False, nullable=False)
    # Set on a visitor's demo sandbox: the cleanup job deletes the tenant after this moment.
    demo_expires_at: datetime | None = when_field()
    created_at: datetime = created_field()

    __table_args__ = (UniqueConstraint("location_id", name="uq_tenants_location_id"),)
