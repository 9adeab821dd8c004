"""Silent-lead detection: we wrote to a lead and it has not answered within its office's
threshold (per temperature), so it becomes `silent` and recovery campaigns can pick it up.

Each office is one set-based statement, never a Python loop over leads: the threshold per
temperature is a SQL CASE and candidates come from the (tenant_id, status, last_outbound_at)
index. On PostgreSQL the status changes and their `status_changed` activities are a single
data-modifying statement; on SQLite (no DML in a WITH) an UPDATE ... RETURNING feeds one
executemany INSERT. Replies move leads out of `silent` elsewhere (`timeline.record_reply`);
this pass only wakes a silent lead when it no longer qualifies (threshold raised, snoozed).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    String,
    and_,
    any_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlmodel import col
from sqlmodel.sql.sqltypes import UTCDateTime

from recovery_app.domain.crm import writeback as crm
from recovery_app.models import (
    Activity,
    ActivityKind,
    Lead,
    LeadStatus,
    Temperature,
    Tenant,
    TenantIntegration,
    pk,
)

# Statuses a lead can go silent from. new (we never wrote), converted and lost never move here.
OPEN = (LeadStatus.CONTACTED, LeadStatus.ENGAGED, LeadStatus.RECOVERED)
SNOOZED_REASON = "Snoozed"
THRESHOLD_REASON = "Threshold changed"
# Columns the pass rewrites; ORM copies of leads in the caller's session are expired after it.
_WRITTEN = ("status", "status_reason", "status_changed_at", "updated_at", "last_activity_at")
# Leads one pass changes at most, all offices together. Steady state is a few hundred per run;
# the first run after go-live (or a lowered threshold) can find half a million. Capped, a pass
# is a transaction of a couple of seconds; the job runs passes until the backlog is gone.
MAX_CHANGES_PER_PASS = 20_000


def threshold_hours(tenant: Tenant, temperature: str) -> int:
    """Hours without a reply after which a lead of `temperature` is silent in `tenant`: the
    office's override for the temperature when it has a positive one, else its default."""
    value = (tenant.silence_overrides or {}).get(str(temperature))
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
        return int(value)
    return tenant.silence_threshold_hours


def threshold_text(hours: int) -> str:
    """A threshold as people read it: hours up to two days ("48 h"), whole days past it ("3 d")."""
    return f"{hours // 24} d" if hours > 48 and hours % 24 == 0 else f"{hours} h"


def silent_because(hours: int) -> str:
    """The `status_reason` of a lead marked silent under a threshold of `hours`."""
    return f"No reply within {threshold_text(hours)} of our last message"


def silence_reason(lead: Lead, now: datetime) -> str | None:
    """Why a silent lead is silent, for display ("Last outbound 3 d ago, no reply"); None when
    the lead is not silent or we never wrote to it."""
    if lead.status != LeadStatus.SILENT or lead.last_outbound_at is None:
        return None
    hours = max(0, int((now - lead.last_outbound_at).total_seconds() // 3600))
    ago = f"{hours} h" if hours < 48 else f"{hours // 24} d"
    return f"Last outbound {ago} ago, no reply"


def detect_silent_leads(
    session: Session, now: datetime, *, limit: int = MAX_CHANGES_PER_PASS
) -> dict[str, int]:
    """Mark every office's unanswered leads silent and wake silent leads that no longer
    qualify, each with a `status_changed` activity; at most `limit` leads in all. Idempotent:
    a second run at the same moment changes only what the first left over (`backlog` is 1
    when the limit was reached). Never commits (the job does, between passes)."""
    session.flush()
    tenants = list(session.execute(select(Tenant).order_by(col(Tenant.id))).scalars())
    postgres = session.get_bind().dialect.name == "postgresql"
    marked = woken = backlog = 0
    for tenant in tenants:
        if marked + woken >= limit:
            backlog = 1  # the offices after this one wait for the next pass
            break
        rules = _Rules.of(tenant, now)
        run = _pass_postgresql if postgres else _pass_sqlite
        done = run(session, rules, limit - marked - woken)
        marked, woken = marked + done[0], woken + done[1]
        backlog |= marked + woken >= limit
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Lead):
            session.expire(obj, _WRITTEN)
    return {
        "marked_silent": marked,
        "unsilenced": woken,
        "tenants": len(tenants),
        "backlog": int(backlog),
    }


@dataclass(frozen=True)
class _Rules:
    """One office's silence rules as SQL expressions over `leads`."""

    tenant_id: int
    now: datetime
    goes_silent: ColumnElement[bool]
    wakes: ColumnElement[bool]
    silent_reason: ColumnElement[str]
    wake_reason: ColumnElement[str]

    @classmethod
    def of(cls, tenant: Tenant, now: datetime) -> "_Rules":
        hours = {t: threshold_hours(tenant, t) for t in Temperature}
        default = tenant.silence_threshold_hours
        out, into = col(Lead.last_outbound_at), col(Lead.last_inbound_at)
        snoozed = col(Lead.snoozed_until) > _moment(now)
        # The latest last-outbound moment that is silent for the lead's temperature.
        cutoff = case(
            *(
                (col(Lead.temperature) == t, _moment(now - timedelta(hours=h)))
                for t, h in hours.items()
            ),
            else_=_moment(now - timedelta(hours=default)),
        )
        goes_silent = and_(
            col(Lead.status).in_(OPEN),
            out.is_not(None),
            # The loosest cutoff is a range on the index; the CASE then applies the exact one.
            out <= _moment(now - timedelta(hours=min(*hours.values(), default))),
            out <= cutoff,
            or_(into.is_(None), into < out),
            or_(col(Lead.snoozed_until).is_(None), col(Lead.snoozed_until) <= _moment(now)),
            # A booked appointment answers what we sent before it (see scoring's waiting_since).
            or_(col(Lead.appointment_at).is_(None), col(Lead.appointment_at) < out),
        )
        wakes = and_(
            col(Lead.status) == LeadStatus.SILENT,
            or_(
                snoozed,
                # Threshold raised: the outbound it went silent after is recent again. A message
                # we sent since it went silent (a recovery step) is not that: it stays silent.
                and_(
                    out > cutoff,
                    col(Lead.status_changed_at).is_not(None),
                    out <= col(Lead.status_changed_at),
                ),
            ),
        )
        silent_reason = case(
            *((col(Lead.temperature) == t, _text(silent_because(h))) for t, h in hours.items()),
            else_=_text(silent_because(default)),
        )
        wake_reason = case((snoozed, _text(SNOOZED_REASON)), else_=_text(THRESHOLD_REASON))
        return cls(pk(tenant), now, goes_silent, wakes, silent_reason, wake_reason)

    def qualifies(self) -> ColumnElement[bool]:
        return and_(col(Lead.tenant_id) == self.tenant_id, or_(self.goes_silent, self.wakes))

    def changes(self) -> dict[str, Any]:
        """SET clause of the pass. Expressions read the row as it was before the UPDATE."""
        was_silent = col(Lead.status) == LeadStatus.SILENT
        now = _moment(self.now)
        return {
            "status": case(
                (was_silent, _text(LeadStatus.CONTACTED)), else_=_text(LeadStatus.SILENT)
            ),
            "status_reason": case((was_silent, self.wake_reason), else_=self.silent_reason),
            "status_changed_at": now,
            "updated_at": now,
            # As timeline.add_activity does: the lead's last activity is its newest activity.
            "last_activity_at": case(
                (col(Lead.last_activity_at) > now, col(Lead.last_activity_at)), else_=now
            ),
        }


def _moment(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _text(value: str) -> Any:
    return literal(str(value), String())


def _pass_postgresql(session: Session, rules: _Rules, limit: int) -> tuple[int, int]:
    """One statement: lock the candidates (skipping rows a reply is writing right now), update
    them with the conditions checked again on the locked rows, log one activity each."""
    leads = Lead.__table__  # type: ignore[attr-defined]
    picked = (
        select(col(Lead.id).label("id"), col(Lead.status).label("old_status"))
        .where(rules.qualifies())
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    # The picked ids as one array reach the rows to update through the primary key. Joined on
    # `id` alone, the planner sizes the join from its guess of how many leads qualify (far too
    # many once the backlog is silent) and scans the candidates a second time to hash them.
    picked_ids = cast(select(func.array_agg(picked.c.id)).scalar_subquery(), ARRAY(BigInteger()))
    changed = (
        update(leads)
        .where(leads.c.id == picked.c.id, leads.c.id == any_(picked_ids), rules.qualifies())
        .values(rules.changes())
        .returning(
            leads.c.id,
            leads.c.tenant_id,
            picked.c.old_status,
            leads.c.status,
            leads.c.status_reason,
            leads.c.last_outbound_at,
        )
        .cte("changed")
    )
    data = func.jsonb_build_object(
        _text("from"),
        changed.c.old_status,
        _text("to"),
        changed.c.status,
        _text("reason"),
        changed.c.status_reason,
        _text("last_outbound_at"),
        _iso_utc(changed.c.last_outbound_at),
    )
    logged = (
        insert(Activity.__table__)  # type: ignore[attr-defined]
        .from_select(
            ["tenant_id", "lead_id", "kind", "occurred_at", "data"],
            select(
                changed.c.tenant_id,
                changed.c.id,
                _text(ActivityKind.STATUS_CHANGED),
                _moment(rules.now),
                data,
            ),
        )
        .cte("logged")
    )
    tallies: list[Any] = [
        func.count().filter(changed.c.status == LeadStatus.SILENT),
        func.count().filter(changed.c.status == LeadStatus.CONTACTED),
    ]
    # Offices syncing with GoHighLevel also need the leads, for their status tags: asked in the
    # same statement (one per office, however many offices), the ids only when it may sync.
    integration = TenantIntegration.__table__  # type: ignore[attr-defined]
    may_sync = exists().where(
        integration.c.tenant_id == rules.tenant_id,
        integration.c.integration == "ghl",
        integration.c.enabled.is_(True),
        integration.c.secret.is_not(None),
    )
    tallies.append(func.array_agg(changed.c.id).filter(may_sync))
    counts: Any = session.execute(select(*tallies).add_cte(logged)).one()
    if counts[2]:
        crm.leads_changed(
            session, tenant_id=rules.tenant_id, lead_ids=counts[2], kind="status", now=rules.now
        )
    return int(counts[0]), int(counts[1])


def _iso_utc(moment: Any) -> Any:
    """`moment` as Python's `datetime.isoformat()` writes a UTC datetime (no fraction when it
    is zero), so activities read the same whichever database wrote them."""
    local = func.to_char(func.timezone(_text("UTC"), moment), _text('YYYY-MM-DD"T"HH24:MI:SS.US'))
    return func.regexp_replace(local, _text(r"\.000000$"), _text(""), type_=String()) + _text(
        "+00:00"
    )


def _pass_sqlite(session: Session, rules: _Rules, limit: int) -> tuple[int, int]:
    """SQLite's RETURNING sees only the new row, so the UPDATE runs once per old status (the
    buckets tell each lead's `from`); the first one takes SQLite's single write lock, so no
    reply can land between them."""
    leads = Lead.__table__  # type: ignore[attr-defined]
    buckets = [(old, rules.goes_silent) for old in OPEN] + [(LeadStatus.SILENT, rules.wakes)]
    activities: list[dict[str, Any]] = []
    marked = woken = 0
    for old, condition in buckets:
        if marked + woken >= limit:
            break
        picked = (
            select(col(Lead.id))
            .where(col(Lead.tenant_id) == rules.tenant_id, col(Lead.status) == old, condition)
            .limit(limit - marked - woken)
        )
        rows = session.execute(
            update(leads)
            .where(col(Lead.id).in_(picked))
            .values(rules.changes())
            .returning(leads.c.id, leads.c.status, leads.c.status_reason, leads.c.last_outbound_at)
        ).all()
        if old == LeadStatus.SILENT:
            woken += len(rows)
        else:
            marked += len(rows)
        activities.extend(
            {
                "tenant_id": rules.tenant_id,
                "lead_id": row.id,
                "kind": ActivityKind.STATUS_CHANGED,
                "occurred_at": rules.now,
                "data": {
                    "from": str(old),
                    "to": row.status,
                    "reason": row.status_reason,
                    "last_outbound_at": _iso(row.last_outbound_at),
                },
            }
            for row in rows
        )
    if activities:
        session.execute(insert(Activity.__table__), activities)  # type: ignore[attr-defined]
        crm.leads_changed(
            session,
            tenant_id=rules.tenant_id,
            lead_ids=[a["lead_id"] for a in activities],
            kind="status",
            now=rules.now,
        )
    return marked, woken


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None
