"""The conversations inbox: every lead we are talking with, the ones whose last word is theirs
(a reply nobody answered yet) first, oldest wait at the top; then the rest, latest first.
Agents see their own leads' threads; managers the office's, or one agent's.

"Waiting" is `last_inbound_at` after `last_outbound_at` (or nothing sent since), which the
partial index `ix_leads_waiting` holds, so the sidebar's count and the first page stay cheap
at 100,000 leads.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.ids import is_id
from recovery_app.models import Lead, Message, Role, User, pk

PAGE = 50
UNASSIGNED = "unassigned"


def waiting_clause() -> ColumnElement[bool]:
    """The lead wrote last: a reply is owed (the partial index's condition, word for word)."""
    return and_(
        col(Lead.last_inbound_at).is_not(None),
        or_(
            col(Lead.last_outbound_at).is_(None),
            col(Lead.last_inbound_at) > col(Lead.last_outbound_at),
        ),
    )


@dataclass(frozen=True, slots=True)
class Thread:
    lead_id: int
    name: str
    agent: str | None
    waiting: bool
    last_at: datetime | None
    last_body: str
    last_direction: str
    last_channel: str


def _scope(viewer: Viewer, agent: str | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [col(Lead.tenant_id) == viewer.tenant_id]
    if viewer.role == Role.AGENT:
        clauses.append(col(Lead.assigned_user_id) == viewer.user_id)
    elif agent == UNASSIGNED:
        clauses.append(col(Lead.assigned_user_id).is_(None))
    elif agent and is_id(agent):
        clauses.append(col(Lead.assigned_user_id) == int(agent))
    return clauses


def waiting_count(session: Session, *, viewer: Viewer) -> int:
    """Threads whose last word is the lead's: the sidebar's badge."""
    return int(
        session.execute(
            select(func.count()).select_from(Lead).where(*_scope(viewer, None), waiting_clause())
        ).scalar_one()
    )


def threads(
    session: Session,
    *,
    viewer: Viewer,
    agent: str | None = None,
    only_waiting: bool = False,
    page: int = 0,
) -> tuple[list[Thread], int]:
    """One page of threads (waiting first) and how many there are in all."""
    waiting = waiting_clause()
    talking = or_(col(Lead.last_inbound_at).is_not(None), col(Lead.last_outbound_at).is_not(None))
    clauses = [*_scope(viewer, agent), waiting if only_waiting else talking]
    total = session.execute(select(func.count()).select_from(Lead).where(*clauses)).scalar_one()
    # 0 for a thread waiting for us: selected for the row and sorted on (waiting first).
    rank = case((waiting, 0), else_=1)
    rows = session.execute(
        select(Lead, col(User.full_name), rank)
        .outerjoin(User, col(User.id) == col(Lead.assigned_user_id))
        .where(*clauses)
        .order_by(
            rank,
            # Waiting: the longest wait first. The rest: the latest conversation first.
            case((waiting, col(Lead.last_inbound_at)), else_=None).asc(),
            col(Lead.last_activity_at).desc(),
            col(Lead.id).desc(),
        )
        .offset(page * PAGE)
        .limit(PAGE)
    ).all()
    last = _last_messages(session, [pk(lead) for lead, _, _ in rows])
    found = []
    for lead, agent_name, waiting_rank in rows:
        message = last.get(pk(lead))
        found.append(
            Thread(
                lead_id=pk(lead),
                name=f"{lead.first_name} {lead.last_name}".strip() or lead.phone or "A lead",
                agent=agent_name,
                waiting=waiting_rank == 0,
                last_at=message.created_at if message else None,
                last_body=(message.subject + ": " if message and message.subject else "")
                + (message.body[:160] if message else ""),
                last_direction=str(message.direction) if message else "",
                last_channel=str(message.channel) if message else "",
            )
        )
    return found, int(total)


def _last_messages(session: Session, lead_ids: list[int]) -> dict[int, Message]:
    """The newest message of each lead, with one query for the page."""
    if not lead_ids:
        return {}
    newest = (
        select(col(Message.lead_id), func.max(col(Message.id)).label("id"))
        .where(col(Message.lead_id).in_(lead_ids))
        .group_by(col(Message.lead_id))
        .subquery()
    )
    rows = session.execute(select(Message).join(newest, col(Message.id) == newest.c.id)).scalars()
    return {int(m.lead_id or 0): m for m in rows}
