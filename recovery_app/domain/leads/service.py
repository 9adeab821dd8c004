"""Lead rules: what a lead list may ask for, what it answers, and who may see which lead."""

import base64
import binascii
from datetime import datetime
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.leads import repository
from recovery_app.domain.leads.schemas import (
    MAX_PAGE_SIZE,
    SORT_KEYS,
    LeadDetail,
    LeadFilterOptions,
    LeadPage,
    LeadQuery,
)
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.models import Activity, ActivityKind, Lead, User

DETAIL_LIMIT = 200


def _check(query: LeadQuery, *, page_size: int, page_size_field: str = "page_size") -> None:
    problems: dict[str, str] = {}
    if query.sort not in SORT_KEYS:
        problems["sort"] = f"one of {', '.join(SORT_KEYS)}"
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        problems[page_size_field] = f"between 1 and {MAX_PAGE_SIZE}"
    for name in ("min_score", "max_score"):
        value = getattr(query, name)
        if value is not None and not 0 <= value <= 100:
            problems[name] = "between 0 and 100"
    for name in ("silent_for_hours", "silent_max_hours"):
        value = getattr(query, name)
        if value is not None and not 0 <= value <= 24 * 365:
            problems[name] = "between 0 and 8760"
    if len(query.text) > 100:
        problems["q"] = "at most 100 characters"
    if problems:
        raise ValidationFailed("Some filters are invalid.", fields=problems)


def list_leads(session: Session, *, viewer: Viewer, query: LeadQuery, now: datetime) -> LeadPage:
    """One page of the leads `viewer` may see; a page past the end answers the last page."""
    _check(query, page_size=query.page_size)
    total = repository.count_leads(session, viewer=viewer, query=query, now=now)
    page_count = max(1, -(-total // query.page_size))
    page = min(max(1, query.page), page_count)
    items = repository.search_leads(
        session,
        viewer=viewer,
        query=query,
        now=now,
        offset=(page - 1) * query.page_size,
        limit=query.page_size,
        total=total,
    )
    return LeadPage(items=items, total=total, page=page, page_size=query.page_size)


def encode_cursor(lead_id: int) -> str:
    return base64.urlsafe_b64encode(f"lead:{lead_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "lead":
            raise ValueError(kind)
        return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(
            "Invalid cursor.", fields={"cursor": "use next_cursor from the previous page"}
        ) from None


def leads_by_cursor(
    session: Session,
    *,
    viewer: Viewer,
    query: LeadQuery,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[Lead], str | None]:
    """A keyset page for the REST API (newest first) and the cursor of the next one."""
    _check(query, page_size=limit, page_size_field="limit")
    before_id = decode_cursor(cursor) if cursor else None
    rows = repository.leads_after(
        session, viewer=viewer, query=query, now=now, before_id=before_id, limit=limit + 1
    )
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(cast(int, rows[-1].id))


def get_lead(session: Session, *, viewer: Viewer, lead_id: int) -> Lead:
    """The lead if `viewer` may see it; NotFound otherwise (never "exists but not yours")."""
    lead = repository.visible_lead(session, viewer=viewer, lead_id=lead_id)
    if lead is None:
        raise NotFound("No such lead.")
    return lead


def get_lead_detail(session: Session, *, viewer: Viewer, lead_id: int) -> LeadDetail:
    """The lead with its most recent activities and messages (200 of each at most)."""
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    agent = session.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    return LeadDetail(
        lead=lead,
        assigned_name=(agent.full_name or agent.email) if agent else None,
        activities=repository.lead_activities(session, lead_id=lead_id, limit=DETAIL_LIMIT),
        messages=repository.lead_messages(session, lead_id=lead_id, limit=DETAIL_LIMIT),
        first_delivered_at=repository.first_delivered_at(session, lead_id=lead_id),
    )


def lead_filter_options(session: Session, *, viewer: Viewer) -> LeadFilterOptions:
    """The choices the lead filters offer: sources in use and the tenant's active users."""
    return LeadFilterOptions(
        sources=repository.distinct_sources(session, viewer=viewer),
        agents=repository.assignable_users(session, viewer=viewer),
    )


def score_history(
    session: Session, *, viewer: Viewer, lead_id: int, limit: int = 100
) -> list[tuple[datetime, int]]:
    """The lead's score over time, oldest first: where it started and each change since (the
    `score_changed` activities), the latest `limit` of them."""
    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    changes = list(
        session.execute(
            select(col(Activity.occurred_at), col(Activity.data))
            .where(
                col(Activity.lead_id) == lead_id,
                col(Activity.kind) == ActivityKind.SCORE_CHANGED,
            )
            .order_by(col(Activity.occurred_at).desc(), col(Activity.id).desc())
            .limit(limit)
        ).all()
    )
    changes.reverse()
    points = [(at, int(data.get("to", 0))) for at, data in changes]
    if changes and len(changes) < limit:
        points.insert(0, (lead.created_at, int(changes[0][1].get("from", 0))))
    return points or [(lead.created_at, lead.score)]
