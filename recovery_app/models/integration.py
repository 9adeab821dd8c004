"""Outbound integrations: each office's settings and health per integration, the Slack
alert queue, the enrichment cache and call log, and the GoHighLevel write-back queue."""

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from recovery_app.models.base import (
    created_field,
    fk_field,
    id_field,
    json_field,
    str_field,
    text_field,
    when_field,
)


class TenantIntegration(SQLModel, table=True):
    """One office's settings and health for one integration ("slack"; later "ghl", "apollo").
    No row means the deployment's defaults (the environment) apply."""

    __tablename__ = "tenant_integrations"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    integration: str = str_field(32, nullable=False)
    enabled: bool = Field(default=True, nullable=False)
    # The office's own credential (a webhook URL, a token); NULL: the environment's default.
    # Never sent to a browser in full.
    secret: str | None = text_field()
    # What the office chose (e.g. which Slack alerts, thresholds).
    config: dict = json_field()
    # What runs remember between runs (open incidents, sync cursors).
    state: dict = json_field()
    # "ok" or "needs_attention": the provider refused the credential for good.
    status: str = str_field(16, "ok", nullable=False)
    # SHA-256 of the credential that was refused: "needs attention" holds while that
    # credential is still the one in use, and lifts by itself once someone changes it.
    attention_key: str | None = str_field(64)
    last_ok_at: datetime | None = when_field()
    last_error: str | None = str_field(500)
    last_error_at: datetime | None = when_field()
    updated_at: datetime = created_field()

    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "integration", name="uq_tenant_integrations_tenant_integration"
        ),
    )


class SlackAlert(SQLModel, table=True):
    """One alert on its way to Slack: queued in the transaction that noticed the event, so it
    survives Slack (or us) being down, and posted by the `slack_alerts` job. The unique
    (tenant, dedupe key) makes the same event alert once however often it is noticed."""

    __tablename__ = "slack_alerts"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    # NULL: the office's channel; else a copy to that agent's own webhook.
    user_id: int | None = fk_field("users.id", nullable=True)
    kind: str = str_field(32, nullable=False)
    dedupe_key: str = str_field(200, nullable=False)
    lead_id: int | None = fk_field("leads.id", nullable=True, ondelete="CASCADE")
    title: str = str_field(300, "", nullable=False)
    # Where the alert points (the lead's page, the campaign list); summaries list these.
    url: str | None = str_field(500)
    # The Slack message body (Block Kit), built when the alert was queued.
    payload: dict = json_field()
    # queued -> sending -> sent | failed; "folded": posted inside a summary (`folded_into_id`);
    # "skipped": its destination was removed before it could go.
    status: str = str_field(16, "queued", nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = when_field()
    folded_into_id: int | None = fk_field("slack_alerts.id", nullable=True)
    error: str | None = str_field(500)
    created_at: datetime = created_field()
    sent_at: datetime | None = when_field()

    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key", name="uq_slack_alerts_tenant_dedupe"),
        # The job's claim: due rows in one status.
        Index("ix_slack_alerts_status_next", "status", "next_attempt_at"),
        # The per-destination rate limit: posts of the last minute.
        Index("ix_slack_alerts_target_sent", "tenant_id", "user_id", "sent_at"),
    )


class EnrichmentCache(SQLModel, table=True):
    """One enrichment answer (a match or "no match") for one person, reused for 30 days instead
    of a second paid call. Scoped to the Apollo account that paid for it (`account`: SHA-256 of
    the API key): offices sharing the deployment's key share answers, an office with its own key
    has its own. It holds Apollo's answer only - no lead, no office - and goes when a lead with
    that address is erased."""

    __tablename__ = "enrichment_cache"

    id: int | None = id_field()
    provider: str = str_field(16, nullable=False)
    account: str = str_field(64, nullable=False)
    # "email:<lower-cased email>" or "phone:<E.164>" (when the lead had no email).
    lookup_key: str = str_field(300, nullable=False)
    matched: bool = Field(default=False, nullable=False)
    data: dict = json_field()
    fetched_at: datetime = created_field()

    __table_args__ = (
        UniqueConstraint(
            "provider", "account", "lookup_key", name="uq_enrichment_cache_provider_account_key"
        ),
    )


class EnrichmentCall(SQLModel, table=True):
    """One call to the enrichment provider on an office's behalf: the monthly budget counts
    these. Written (outcome "pending") and committed before the call, so concurrent workers
    count it; the outcome says whether it could have cost a credit."""

    __tablename__ = "enrichment_calls"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    lead_id: int | None = fk_field("leads.id", nullable=True, ondelete="SET NULL")
    provider: str = str_field(16, nullable=False)
    # pending -> match | no_match | unknown (no answer in time: may have been charged)
    # | refused | rejected | retry (not charged)
    outcome: str = str_field(16, "pending", nullable=False)
    called_at: datetime = created_field()

    __table_args__ = (Index("ix_enrichment_calls_tenant_called", "tenant_id", "called_at"),)


class GhlWrite(SQLModel, table=True):
    """One write-back to GoHighLevel (a contact upsert, the status tag, the score fields, a
    note, the won opportunity): queued in the transaction that changed the lead, posted by the
    `ghl_sync` job, and kept as the lead's sync log. The unique idempotency key makes one
    change one write however often it is noticed; the state-like kinds (contact, status,
    fields) have one row per lead that a later change re-arms (`version`), so a burst of
    changes is one write of the latest values."""

    __tablename__ = "ghl_writes"

    id: int | None = id_field()
    tenant_id: int = fk_field("tenants.id")
    lead_id: int = fk_field("leads.id", ondelete="CASCADE")
    # contact | status | fields | note | opportunity
    kind: str = str_field(16, nullable=False)
    idempotency_key: str = str_field(120, nullable=False)
    # What the sync log says this write is ("Note: recovery text sent", "Status tag ...").
    summary: str = str_field(300, "", nullable=False)
    # What a note or an opportunity carries (captured when it was queued).
    payload: dict = json_field()
    # Bumped by every re-arm; the run that sends remembers which version it sent, so a change
    # that lands while the write is in flight is written too.
    version: int = Field(default=1, nullable=False)
    sent_version: int = Field(default=0, nullable=False)
    # queued -> sending -> done | failed | skipped ("skipped": nothing to write any more)
    status: str = str_field(16, "queued", nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = when_field()
    # GoHighLevel's id of what the write made (note id, opportunity id, contact id): a retry
    # after an answer we never read finds it instead of making a second one.
    ghl_id: str | None = str_field(64)
    # GoHighLevel's answer to the last attempt, in its words ("201 note abc123", "422 ...").
    result: str | None = str_field(500)
    error: str | None = str_field(500)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    done_at: datetime | None = when_field()

    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_ghl_writes_idempotency_key"),
        Index("ix_ghl_writes_status_next", "status", "next_attempt_at"),
        Index("ix_ghl_writes_lead", "lead_id", "id"),
        Index("ix_ghl_writes_tenant_status", "tenant_id", "status"),
    )
