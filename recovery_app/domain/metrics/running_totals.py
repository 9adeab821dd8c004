"""Reading and folding the running totals (models/running_totals.py): triggers on messages and
leads append every change to a log; a read adds the log to the totals, so it is exact at any
moment; the hourly rollup job folds the log into the totals so the log stays short.

Folding moves exactly the log rows it deletes: on PostgreSQL one statement deletes them and
adds what it returned (rows committed meanwhile stay for the next run); on SQLite, which has
one writer at a time, every row up to the highest id seen is complete.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text, union_all
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import (
    CampaignMessageDelta,
    CampaignMessageTotal,
    LeadFactorDelta,
    LeadFactorTotal,
    ReplyHourDelta,
    ReplyHourTotal,
)

# table stem: (key columns, value columns)
TOTALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reply_hour": (("tenant_id", "hour", "channel", "timezone"), ("sends", "replies")),
    "campaign_message": (
        ("tenant_id", "campaign_id"),
        ("messages", "sent", "delivered", "replied", "cost_microdollars"),
    ),
    "lead_factor": (("tenant_id", "owner_id", "factor"), ("leads", "scored", "points")),
}


def fold(session: Session) -> dict[str, int]:
    """Fold every log into its totals: how many log rows each had."""
    return {f"{stem}_changes": _fold(session, stem) for stem in TOTALS}


def _fold(session: Session, stem: str) -> int:
    keys, values = TOTALS[stem]
    totals, deltas = f"{stem}_totals", f"{stem}_deltas"
    names = ", ".join((*keys, *values))
    grouped = f"{', '.join(keys)}, " + ", ".join(f"sum({v})" for v in values)
    upsert = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(
        f"{v} = {totals}.{v} + excluded.{v}" for v in values
    )
    if session.get_bind().dialect.name == "postgresql":
        moved = session.execute(
            text(
                f"WITH moved AS (DELETE FROM {deltas} RETURNING {names}), "
                f"folded AS (INSERT INTO {totals} ({names}) SELECT {grouped} FROM moved "
                f"GROUP BY {', '.join(keys)} {upsert} RETURNING 1) "
                "SELECT (SELECT count(*) FROM moved)"
            )
        ).scalar_one()
    else:
        last = session.execute(text(f"SELECT max(id) FROM {deltas}")).scalar_one()
        if last is None:
            return 0
        moved = session.execute(
            text(f"SELECT count(*) FROM {deltas} WHERE id <= :last"), {"last": last}
        ).scalar_one()
        session.execute(
            text(
                f"INSERT INTO {totals} ({names}) SELECT {grouped} FROM {deltas} "
                f"WHERE id <= :last GROUP BY {', '.join(keys)} {upsert}"
            ),
            {"last": last},
        )
        session.execute(text(f"DELETE FROM {deltas} WHERE id <= :last"), {"last": last})
    # A cell that netted to nothing (a lead's zone moved away) is dropped rather than kept.
    zero = " AND ".join(f"{v} = 0" for v in values)
    session.execute(text(f"DELETE FROM {totals} WHERE {zero}"))
    return int(moved or 0)


def reply_hours(
    session: Session, *, tenant_id: int, from_hour: int, channel: str | None = None
) -> list[tuple[str, int, int, int]]:
    """(lead time zone, UTC hour since the epoch, sends, replies) of the office's outbound
    messages from `from_hour` on, on `channel` or all channels."""
    parts: list[Any] = []
    for table in (ReplyHourTotal, ReplyHourDelta):
        query: Any = select(
            col(table.timezone).label("timezone"),
            col(table.hour).label("hour"),
            col(table.sends).label("sends"),
            col(table.replies).label("replies"),
        ).where(col(table.tenant_id) == tenant_id, col(table.hour) >= from_hour)
        if channel:
            query = query.where(col(table.channel) == channel)
        parts.append(query)
    both = union_all(*parts).subquery()
    rows = session.execute(
        select(both.c.timezone, both.c.hour, func.sum(both.c.sends), func.sum(both.c.replies))
        .group_by(both.c.timezone, both.c.hour)
        .having(func.sum(both.c.sends) != 0)
    ).all()
    return [(str(zone), int(hour), int(sends), int(replies)) for zone, hour, sends, replies in rows]


def factor_totals(
    session: Session, *, tenant_id: int, owners: Sequence[int] | None = None
) -> list[tuple[str, int, int, float]]:
    """(factor, open leads' factor entries, entries with points, their points) of the office,
    or of the leads assigned to `owners` (0 = nobody)."""
    parts: list[Any] = []
    for table in (LeadFactorTotal, LeadFactorDelta):
        query: Any = select(
            col(table.factor).label("factor"),
            col(table.leads).label("leads"),
            col(table.scored).label("scored"),
            col(table.points).label("points"),
        ).where(col(table.tenant_id) == tenant_id)
        if owners is not None:
            query = query.where(col(table.owner_id).in_(list(owners)))
        parts.append(query)
    both = union_all(*parts).subquery()
    rows = session.execute(
        select(
            both.c.factor,
            func.sum(both.c.leads),
            func.sum(both.c.scored),
            func.sum(both.c.points),
        )
        .group_by(both.c.factor)
        .having(func.sum(both.c.leads) != 0)
    ).all()
    return [
        (str(factor), int(leads), int(scored), float(points or 0))
        for factor, leads, scored, points in rows
    ]


def campaign_totals(session: Session, *, tenant_id: int, campaign_ids: Any) -> list[Any]:
    """(campaign id, messages, sent, delivered, replied, cost) of the office's campaigns among
    `campaign_ids` (a subquery) that have any outbound message."""
    parts: list[Any] = [
        select(
            col(table.campaign_id).label("campaign_id"),
            col(table.messages).label("messages"),
            col(table.sent).label("sent"),
            col(table.delivered).label("delivered"),
            col(table.replied).label("replied"),
            col(table.cost_microdollars).label("cost"),
        ).where(col(table.tenant_id) == tenant_id, col(table.campaign_id).in_(campaign_ids))
        for table in (CampaignMessageTotal, CampaignMessageDelta)
    ]
    both = union_all(*parts).subquery()
    return list(
        session.execute(
            select(
                both.c.campaign_id,
                func.sum(both.c.sent),
                func.sum(both.c.delivered),
                func.sum(both.c.replied),
                func.sum(both.c.cost),
            )
            .group_by(both.c.campaign_id)
            .having(func.sum(both.c.messages) != 0)
        ).all()
    )
