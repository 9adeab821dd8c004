"""Queries of lead enrichment: the cache, the call log the budget counts, the pending queue."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import EnrichmentCache, EnrichmentCall, Lead, TenantIntegration

# Outcomes of calls that may have cost a credit: answered (match or no match) or unknown (we
# stopped waiting; Apollo may still have charged). Refusals, 422s, 429s and 5xx cost nothing.
CHARGED = ("pending", "match", "no_match", "unknown")
PENDING = "pending"
CLAIM_LIMIT = 200


def cached(
    session: Session, *, provider: str, account: str, lookup_key: str, since: datetime
) -> EnrichmentCache | None:
    return session.execute(
        select(EnrichmentCache).where(
            col(EnrichmentCache.provider) == provider,
            col(EnrichmentCache.account) == account,
            col(EnrichmentCache.lookup_key) == lookup_key,
            col(EnrichmentCache.fetched_at) >= since,
        )
    ).scalar_one_or_none()


def store(
    session: Session,
    *,
    provider: str,
    account: str,
    lookup_key: str,
    matched: bool,
    data: dict,
    now: datetime,
) -> None:
    """Keep (or refresh) one answer."""
    row = session.execute(
        select(EnrichmentCache).where(
            col(EnrichmentCache.provider) == provider,
            col(EnrichmentCache.account) == account,
            col(EnrichmentCache.lookup_key) == lookup_key,
        )
    ).scalar_one_or_none()
    if row is None:
        row = EnrichmentCache(provider=provider, account=account, lookup_key=lookup_key)
        session.add(row)
    row.matched, row.data, row.fetched_at = matched, data, now
    session.flush()


def forget(session: Session, *, lookup_keys: Collection[str]) -> None:
    """Erasure: the cached answers about these addresses, whoever paid for them."""
    if lookup_keys:
        session.execute(
            delete(EnrichmentCache).where(col(EnrichmentCache.lookup_key).in_(lookup_keys))
        )


def charged_calls(session: Session, *, tenant_id: int, provider: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(EnrichmentCall)
            .where(
                col(EnrichmentCall.tenant_id) == tenant_id,
                col(EnrichmentCall.provider) == provider,
                col(EnrichmentCall.called_at) >= since,
                col(EnrichmentCall.outcome).in_(CHARGED),
            )
        ).scalar_one()
    )


def lock_office(session: Session, row_id: int) -> None:
    """Serialise budget checks of one office across workers (a no-op lock on SQLite, whose
    writers are serial anyway)."""
    session.execute(
        select(col(TenantIntegration.id))
        .where(col(TenantIntegration.id) == row_id)
        .with_for_update()
    ).all()


def due_lead_ids(session: Session, *, now: datetime, limit: int = CLAIM_LIMIT) -> list[int]:
    return [
        int(lead_id)
        for lead_id in session.execute(
            select(col(Lead.id))
            .where(col(Lead.enrichment_status) == PENDING, col(Lead.enrichment_due_at) <= now)
            .order_by(col(Lead.enrichment_due_at))
            .limit(limit)
        ).scalars()
        if lead_id is not None
    ]


def claim_lead(session: Session, *, lead_id: int, now: datetime, until: datetime) -> bool:
    """Take one due pending lead for a lookup (its due time moves to `until`, so nobody else
    takes it meanwhile); False when another worker has it or it is not due."""
    result = session.execute(
        update(Lead)
        .where(
            col(Lead.id) == lead_id,
            col(Lead.enrichment_status) == PENDING,
            col(Lead.enrichment_due_at) <= now,
        )
        .values(enrichment_due_at=until, enrichment_attempts=col(Lead.enrichment_attempts) + 1)
        .execution_options(synchronize_session=False)
    )
    claimed = bool(result.rowcount)  # type: ignore[attr-defined]
    if claimed:
        lead = session.get(Lead, lead_id)
        if lead is not None:
            session.refresh(lead)
    return claimed


def pending_count(session: Session, *, tenant_id: int) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Lead)
            .where(col(Lead.tenant_id) == tenant_id, col(Lead.enrichment_status) == PENDING)
        ).scalar_one()
    )


def release_waiting(session: Session, *, tenant_id: int, now: datetime) -> None:
    """The office fixed its key (or it tested fine): what waited for it is due now."""
    session.execute(
        update(Lead)
        .where(col(Lead.tenant_id) == tenant_id, col(Lead.enrichment_status) == PENDING)
        .values(enrichment_due_at=now)
        .execution_options(synchronize_session=False)
    )
