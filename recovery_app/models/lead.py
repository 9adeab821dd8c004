from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    json_field,
    str_field,
    text_field,
    when_field,
)
from recovery_app.models.enums import LeadStatus, Temperature

# The lead wrote last (a reply is owed): the inbox's partial index and its queries use it.
WAITING_SQL = (
    "last_inbound_at IS NOT NULL AND "
    "(last_outbound_at IS NULL OR last_inbound_at > last_outbound_at)"
)
ENRICHMENT_PENDING_SQL = "enrichment_status = 'pending'"
REACHED_SQL = "coalesce(last_inbound_at, created_at)"
HEAT_COLUMNS = (
    "score",
    "source",
    "temperature",
    "assigned_user_id",
    "last_outbound_at",
    "last_inbound_at",
    "phone",
    "email",
    "opted_out_sms",
    "opted_out_email",
    "tags",  # an audience rule with a tag (migration 0016)
)


class Lead(SQLModel, table=True):
    """One person who asked about a home or a policy, in one tenant."""

    __tablename__ = "leads"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    external_id: str | None = str_field(128)
    crm_contact_id: str | None = str_field(64)
    first_name: str = str_field(100, "", nullable=False)
    last_name: str = str_field(100, "", nullable=False)
    # Lower-cased; unique per tenant together with `phone` (E.164): one lead per person.
    email: str | None = str_field(254)
    phone: str | None = str_field(20)
    source: str = str_field(40, "web_form", nullable=False)
    message: str | None = text_field()
    timezone: str | None = str_field(64)
    status: LeadStatus = str_field(16, LeadStatus.NEW, nullable=False)
    status_reason: str | None = str_field(255)
    score: int = Field(default=0, nullable=False)
    temperature: Temperature = str_field(8, Temperature.COLD, nullable=False)
    # [{"factor": "source", "label": "Referral", "points": 20}, ...]; sums to `score`.
    score_factors: list = json_field(list)
    assigned_user_id: int | None = fk_field("users.id", nullable=True)
    tags: list = json_field(list)
    # Keys a form sent that have no column (kept, shown, usable as template variables).
    attributes: dict = json_field()
    est_value_cents: int | None = Field(default=None, sa_type=BigInteger())
    # How often the person reached us: form submissions (merged) and replies. Scoring reads these.
    submissions: int = Field(default=1, nullable=False)
    inbound_count: int = Field(default=0, nullable=False)
    # Seconds from our first message to their first reply (None until they reply).
    first_reply_seconds: int | None = Field(default=None)
    # Points behavioral triggers added ("Opened 2+ emails in 24 h"), a scoring factor of its own.
    score_boost: int = Field(default=0, nullable=False)
    score_boost_reason: str | None = str_field(120)

    consent_sms: bool = Field(default=False, nullable=False)
    consent_email: bool = Field(default=False, nullable=False)
    # Where consent came from: {"source", "text", "ip", "at"}; audited when it changes.
    consent_evidence: dict = json_field()
    opted_out_sms: bool = Field(default=False, nullable=False)
    opted_out_sms_at: datetime | None = when_field()
    opted_out_sms_reason: str | None = str_field(255)
    opted_out_email: bool = Field(default=False, nullable=False)
    opted_out_email_at: datetime | None = when_field()
    opted_out_email_reason: str | None = str_field(255)

    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    first_response_at: datetime | None = when_field()
    last_inbound_at: datetime | None = when_field()
    last_outbound_at: datetime | None = when_field()
    # Channel of the message `last_outbound_at` belongs to: the silent-lead table filters on it.
    last_outbound_channel: str | None = str_field(8)
    last_activity_at: datetime = created_field()
    status_changed_at: datetime | None = when_field()
    snoozed_until: datetime | None = when_field()
    # Speed to lead: the first time a person (not automation) acted on the lead.
    first_human_touch_at: datetime | None = when_field()
    escalated_at: datetime | None = when_field()
    converted_at: datetime | None = when_field()
    # When the appointment the lead booked (Calendly) starts; NULL when none is booked. While
    # set it is a scoring factor ("appointment") and campaigns with that goal count it.
    appointment_at: datetime | None = when_field()

    # Enrichment (Apollo people match): what the person's professional profile says, and
    # where it came from. `enrichment_status`: NULL (never asked: enrichment off), "pending"
    # (queued; `enrichment_due_at` is when the job tries), "done", "no_match", "skipped"
    # (not looked up: `enrichment_note` says why, e.g. the monthly budget) or "failed".
    job_title: str | None = str_field(200)
    company: str | None = str_field(200)
    seniority: str | None = str_field(40)
    linkedin_url: str | None = str_field(500)
    location: str | None = str_field(200)
    enriched_at: datetime | None = when_field()
    enrichment_source: str | None = str_field(16)
    enrichment_status: str | None = str_field(16)
    enrichment_note: str | None = str_field(300)
    enrichment_due_at: datetime | None = when_field()
    enrichment_attempts: int = Field(default=0, nullable=False)

    __table_args__ = (
        # NULLs are distinct in both SQLite and PostgreSQL, so leads with only one of the two
        # contact points never collide on the missing one.
        UniqueConstraint("tenant_id", "phone", name="uq_leads_tenant_phone"),
        UniqueConstraint("tenant_id", "email", name="uq_leads_tenant_email"),
        Index("ix_leads_tenant_status_activity", "tenant_id", "status", "last_activity_at"),
        Index("ix_leads_tenant_score", "tenant_id", "score"),
        # Covering `source` on PostgreSQL: ROI's lead-source costs count a range's new leads
        # by source from the index alone.
        Index("ix_leads_tenant_created", "tenant_id", "created_at", postgresql_include=["source"]),
        Index("ix_leads_tenant_activity", "tenant_id", "last_activity_at"),
        Index(
            "ix_leads_tenant_temperature_activity", "tenant_id", "temperature", "last_activity_at"
        ),
        Index("ix_leads_tenant_assigned_status", "tenant_id", "assigned_user_id", "status"),
        Index("ix_leads_tenant_source", "tenant_id", "source"),
        Index("ix_leads_tenant_external", "tenant_id", "external_id"),
        Index("ix_leads_tenant_first_touch", "tenant_id", "first_human_touch_at"),
        # Silent-lead detection: open leads of a tenant we last wrote to before a cutoff.
        Index("ix_leads_tenant_status_outbound", "tenant_id", "status", "last_outbound_at"),
        # The call list (scoring.insights.priority_queue) ranks the leads that reached out
        # lately first: when they last did (their last reply, else when they came in).
        Index("ix_leads_tenant_reached", "tenant_id", text(REACHED_SQL)),
        # The Scoring page's heatmaps and the campaign wizard's audience count read a tenant's
        # leads by status and a few more columns: covering on PostgreSQL, they read this index
        # instead of the table (at 600,000 open leads, a heatmap 1.06 s by a table scan, 0.1 s
        # from the index; counting an audience 0.37 s -> 0.09 s; bench/manager.py).
        Index(
            "ix_leads_tenant_status_heat",
            "tenant_id",
            "status",
            postgresql_include=list(HEAT_COLUMNS),
        ),
        # The enrichment queue: pending leads by when they are due (partial: a handful).
        Index(
            "ix_leads_enrichment_due",
            "enrichment_due_at",
            postgresql_where=text(ENRICHMENT_PENDING_SQL),
            sqlite_where=text(ENRICHMENT_PENDING_SQL),
        ),
        # The conversations inbox: leads whose last word is theirs (a reply is owed). Partial,
        # so it holds the few hundred waiting leads, not the 100,000.
        Index(
            "ix_leads_waiting",
            "tenant_id",
            "assigned_user_id",
            "last_inbound_at",
            postgresql_where=text(WAITING_SQL),
            sqlite_where=text(WAITING_SQL),
        ),
    )


# An audience's sample (its best leads first) walks this in rank order and tests the rule on
# the index entries alone (covering on PostgreSQL): a rule few top leads match reads index
# entries, not the table (migration 0016). Declared here: the descending key needs the column.
Index(
    "ix_leads_tenant_rank",
    col(Lead.tenant_id),
    col(Lead.score).desc(),
    col(Lead.id),
    postgresql_include=["status", *HEAT_COLUMNS],
)

# Leads with at least one tag, in rank order (partial: most leads have none). An audience rule
# with a tag counts and samples these entries instead of testing every open lead's tags
# (bench/manager.py: 600,000 open leads). The rule's clause repeats the predicate
# (`audience._has_any_tag`) so the planner can use it.
TAGGED_SQL = {"postgresql": "tags <> '[]'::jsonb", "sqlite": "tags <> '[]'"}
Index(
    "ix_leads_tenant_tagged",
    col(Lead.tenant_id),
    col(Lead.score).desc(),
    col(Lead.id),
    postgresql_include=["status", *HEAT_COLUMNS],
    postgresql_where=text(TAGGED_SQL["postgresql"]),
    sqlite_where=text(TAGGED_SQL["sqlite"]),
)


class Activity(SQLModel, table=True):
    """Something that happened to a lead; the lead's timeline is its activities in order."""

    __tablename__ = "activities"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    kind: str = str_field(32, nullable=False)
    occurred_at: datetime = created_field()
    actor_user_id: int | None = fk_field("users.id", nullable=True)
    message_id: int | None = fk_field("messages.id", nullable=True)
    data: dict = json_field()

    __table_args__ = (
        Index("ix_activities_lead_occurred", "lead_id", "occurred_at"),
        Index("ix_activities_tenant_occurred", "tenant_id", "occurred_at"),
        Index("ix_activities_tenant_kind_occurred", "tenant_id", "kind", "occurred_at"),
    )
