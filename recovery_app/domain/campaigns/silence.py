"""Silent-lead detection: we wrote, they have not answered within the tenant's threshold.

One set-based pass per tenant (never a Python loop over leads): the threshold per temperature
is a SQL CASE, the candidates come from the (tenant, status, last_outbound_at) index, and on
PostgreSQL the status change and its `status_changed` activities are one statement (a
data-modifying CTE). Replies move leads out of `silent` elsewhere (`timeline.record_reply`);
this pass also moves a lead back to `contacted` when it no longer qualifies (threshold raised,
snoozed).
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import (
    Activity,
    ActivityKind,
    Lead,
    LeadStatus,
    Temperature,
    Tenant,
    pk,
)

OPEN = (LeadStatus.CONTACTED, LeadStatus.ENGAGED, LeadStatus.RECOVERED)


def threshold_hours(tenant: Tenant, temperature: str) -> int:
    overrides = tenant.silence_overrides or {}
    value = overrides.get(str(temperature))
    return (
        int(value)
        if isinstance(value, int | float) and value > 0
        else tenant.silence_threshold_hours
    )


def _hours_text(hours: int) -> str:
    return f"{hours // 24} d" if hours % 24 == 0 and hours >= 48 else f"{hours} h"


def silence_reason(lead: Lead, now: datetime) -> str | None:
    """ "Last outbound 3 d ago, no reply" for a silent lead; None otherwise."""
    if lead.status != LeadStatus.SILENT or lead.last_outbound_at is None:
        return None
    hours = int((now - lead.last_outbound_at).total_seconds() // 3600)
    ago = f"{hours} h" if hours < 48 else f"{hours // 24} d"
    return f"Last outbound {ago} ago, no reply"


def detect_silent_leads(session: Session, now: datetime) -> dict[str, int]:
    tenants = list(session.execute(select(Tenant)).scalars())
    marked = unsilenced = 0
    for tenant in tenants:
        marked += _mark(session, tenant, now)
        unsilenced += _unmark(session, tenant, now)
    return {"marked_silent": marked, "unsilenced": unsilenced, "tenants": len(tenants)}


def _cutoff(tenant: Tenant, now: datetime) -> Any:
    """The latest last-outbound moment that counts as silent, per lead temperature."""
    return case(
        *(
            (col(Lead.temperature) == t, literal(now - timedelta(hours=threshold_hours(tenant, t))))
            for t in Temperature
        ),
        else_=literal(now - timedelta(hours=tenant.silence_threshold_hours)),
    )


def _reason(tenant: Tenant) -> Any:
    return case(
        *(
            (
                col(Lead.temperature) == t,
                literal(
                    f"No reply within {_hours_text(threshold_hours(tenant, t))} of our last message"
                ),
            )
            for t in Temperature
        ),
        else_=literal("No reply to our last message"),
    )


def _unanswered() -> Any:
    return or_(
        col(Lead.last_inbound_at).is_(None), col(Lead.last_inbound_at) < col(Lead.last_outbound_at)
    )


def _not_snoozed(now: datetime) -> Any:
    return or_(col(Lead.snoozed_until).is_(None), col(Lead.snoozed_until) <= now)


def _mark(session: Session, tenant: Tenant, now: datetime) -> int:
    qualifies = and_(
        col(Lead.tenant_id) == pk(tenant),
        col(Lead.status).in_(OPEN),
        col(Lead.last_outbound_at).is_not(None),
        col(Lead.last_outbound_at) <= _cutoff(tenant, now),
        _unanswered(),
        _not_snoozed(now),
    )
    return _move(session, pk(tenant), qualifies, LeadStatus.SILENT, _reason(tenant), now)


def _unmark(session: Session, tenant: Tenant, now: datetime) -> int:
    qualifies = and_(
        col(Lead.tenant_id) == pk(tenant),
        col(Lead.status) == LeadStatus.SILENT,
        or_(
            col(Lead.last_outbound_at).is_(None),
            col(Lead.last_outbound_at) > _cutoff(tenant, now),
            col(Lead.snoozed_until) > now,
        ),
    )
    reason = case(
        (col(Lead.snoozed_until) > now, literal("Snoozed")), else_=literal("Threshold changed")
    )
    return _move(session, pk(tenant), qualifies, LeadStatus.CONTACTED, reason, now)


def _move(
    session: Session, tenant_id: int, where: Any, to: LeadStatus, reason: Any, now: datetime
) -> int:
    """UPDATE the matching leads to `to` and add one status_changed activity each."""
    # The old status and the reason are read (and the rows locked) before the update, so a
    # reply being recorded at the same moment waits for us or we skip it, never overwritten.
    picked = select(
        col(Lead.id).label("id"),
        col(Lead.status).label("old_status"),
        reason.label("reason"),
    ).where(where)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        picked = picked.with_for_update(skip_locked=True, of=Lead)
    rows = picked.cte("picked")
    changed = (
        update(Lead)
        .where(col(Lead.id) == rows.c.id)
        .values(
            status=to,
            status_reason=rows.c.reason,
            status_changed_at=now,
            updated_at=now,
        )
        .returning(col(Lead.id), col(Lead.tenant_id), rows.c.old_status, rows.c.reason)
        .execution_options(synchronize_session=False)
    )
    if postgres:
        moved = changed.cte("moved")
        data = func.jsonb_build_object(
            "from", moved.c.old_status, "to", literal(str(to), String()), "reason", moved.c.reason
        )
        activities = Activity.__table__  # type: ignore[attr-defined]
        inserted = session.execute(
            activities.insert()
            .from_select(
                ["tenant_id", "lead_id", "kind", "occurred_at", "data"],
                select(
                    moved.c.tenant_id,
                    moved.c.id,
                    literal(str(ActivityKind.STATUS_CHANGED), String()),
                    literal(now),
                    data,
                ),
            )
            .returning(activities.c.id)
        )
        return len(inserted.all())
    # SQLite: no DML in a CTE and RETURNING cannot name the FROM table; it has one writer at a
    # time, so reading the rows first and updating exactly those is consistent enough.
    moved_rows = session.execute(select(rows.c.id, rows.c.old_status, rows.c.reason)).all()
    if not moved_rows:
        return 0
    for chunk in range(0, len(moved_rows), 500):
        part = moved_rows[chunk : chunk + 500]
        for reason_text in {r.reason for r in part}:
            session.execute(
                update(Lead)
                .where(col(Lead.id).in_([r.id for r in part if r.reason == reason_text]))
                .values(status=to, status_reason=reason_text, status_changed_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    session.execute(
        Activity.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "tenant_id": tenant_id,
                "lead_id": r.id,
                "kind": str(ActivityKind.STATUS_CHANGED),
                "occurred_at": now,
                "data": {"from": r.old_status, "to": str(to), "reason": r.reason},
            }
            for r in moved_rows
        ],
    )
    return len(moved_rows)
