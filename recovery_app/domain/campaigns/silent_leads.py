"""The silent-lead table: the leads recovery is about (status `silent`), filtered, sorted and
paged in SQL, each with why it went silent and what the engine plans for it next; and what an
agent does about them, to one lead or to every lead a filter matches.

Bulk actions run in chunks (`matching_ids` then one action per chunk, each its own
transaction) so "all 40,000 matching" never holds one long transaction and the page can show
progress. Every action re-checks who may touch which lead: the ids a browser sends are only a
request.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.repository import (
    USER_NAME,
    from_the_end,
    matches_text,
    visible_to,
)
from recovery_app.domain.notifications.service import notify
from recovery_app.domain.routing.service import record_assignment
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.models import (
    ActivityKind,
    Campaign,
    CampaignStep,
    Channel,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadStatus,
    Role,
    Temperature,
    User,
    pk,
)

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
# Leads one bulk transaction touches; the page reports progress between chunks.
BULK_CHUNK = 500
MAX_SNOOZE = timedelta(days=365)
SORTS = ("silent_for", "score", "name", "silent_since")
# Statuses a lost lead cannot come from: converted is the goal met, not a loss.
NOT_LOSABLE = (LeadStatus.CONVERTED, LeadStatus.LOST)


@dataclass(frozen=True, slots=True)
class SilentQuery:
    """One page of an office's silent leads. `silent_for_hours`: our last message is at least
    that old. `assigned_user_id` 0 and `campaign_id` 0 mean "none"."""

    silent_for_hours: int | None = None
    temperature: Temperature | None = None
    min_score: int | None = None
    max_score: int | None = None
    source: str | None = None
    assigned_user_id: int | None = None
    campaign_id: int | None = None
    last_channel: Channel | None = None
    text: str = ""
    sort: str = "silent_for"
    descending: bool = True
    page: int = 1
    page_size: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """The next step of a lead's active nurture."""

    campaign_id: int
    campaign: str
    step: int  # 1-based
    step_count: int
    channel: str | None  # None when every step has run
    due_at: datetime | None
    hold_reason: str | None


@dataclass(frozen=True, slots=True)
class SilentLead:
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    source: str
    temperature: str
    score: int
    assigned_user_id: int | None
    assigned_name: str | None
    last_outbound_at: datetime | None
    last_channel: str | None
    silent_since: datetime | None
    reason: str | None
    opted_out_sms: bool
    opted_out_email: bool
    next: PlannedStep | None = None


@dataclass(frozen=True, slots=True)
class SilentPage:
    items: list[SilentLead]
    total: int
    page: int
    page_size: int

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _check(query: SilentQuery) -> None:
    problems: dict[str, str] = {}
    if query.sort not in SORTS:
        problems["sort"] = f"one of {', '.join(SORTS)}"
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        problems["page_size"] = f"between 1 and {MAX_PAGE_SIZE}"
    for name in ("min_score", "max_score"):
        value = getattr(query, name)
        if value is not None and not 0 <= value <= 100:
            problems[name] = "between 0 and 100"
    if query.silent_for_hours is not None and not 0 <= query.silent_for_hours <= 24 * 365:
        problems["silent_for_hours"] = "between 0 and 8760"
    if len(query.text) > 100:
        problems["q"] = "at most 100 characters"
    if problems:
        raise ValidationFailed("Some filters are invalid.", fields=problems)


def _active_in(campaign_id: int | None) -> Any:
    clauses = [
        col(Enrollment.lead_id) == col(Lead.id),
        col(Enrollment.status) == EnrollmentStatus.ACTIVE,
    ]
    if campaign_id is not None:
        clauses.append(col(Enrollment.campaign_id) == campaign_id)
    return exists(select(col(Enrollment.id)).where(*clauses).correlate(Lead))


def filters(viewer: Viewer, query: SilentQuery, now: datetime) -> list[ColumnElement[bool]]:
    """Silent leads `viewer` may see that match `query`; (tenant, status, last_outbound_at) is
    the index every one of these starts from."""
    clauses = [*visible_to(viewer), col(Lead.status) == LeadStatus.SILENT]
    if query.silent_for_hours:
        clauses.append(col(Lead.last_outbound_at) <= now - timedelta(hours=query.silent_for_hours))
    if query.temperature is not None:
        clauses.append(col(Lead.temperature) == query.temperature)
    if query.min_score is not None:
        clauses.append(col(Lead.score) >= query.min_score)
    if query.max_score is not None:
        clauses.append(col(Lead.score) <= query.max_score)
    if query.source:
        clauses.append(col(Lead.source) == query.source)
    if query.assigned_user_id == 0:
        clauses.append(col(Lead.assigned_user_id).is_(None))
    elif query.assigned_user_id is not None:
        clauses.append(col(Lead.assigned_user_id) == query.assigned_user_id)
    if query.campaign_id == 0:
        clauses.append(~_active_in(None))
    elif query.campaign_id is not None:
        clauses.append(_active_in(query.campaign_id))
    if query.last_channel is not None:
        clauses.append(col(Lead.last_outbound_channel) == query.last_channel)
    if query.text.strip():
        clauses.append(matches_text(query.text))
    return clauses


def _order_by(query: SilentQuery, *, reverse: bool = False) -> list[Any]:
    # "Silent for" longest first is the oldest last message first.
    columns: dict[str, tuple[list[Any], bool]] = {
        "silent_for": ([col(Lead.last_outbound_at)], True),
        "silent_since": ([col(Lead.status_changed_at)], False),
        "score": ([col(Lead.score)], False),
        "name": ([col(Lead.last_name), col(Lead.first_name)], False),
    }
    chosen, inverted = columns[query.sort]
    descending = (query.descending != inverted) != reverse
    return [c.desc() if descending else c.asc() for c in (*chosen, col(Lead.id))]


_COLUMNS: list[Any] = [
    col(Lead.id),
    col(Lead.first_name),
    col(Lead.last_name),
    col(Lead.email),
    col(Lead.phone),
    col(Lead.source),
    col(Lead.temperature),
    col(Lead.score),
    col(Lead.assigned_user_id),
    USER_NAME,
    col(Lead.last_outbound_at),
    col(Lead.last_outbound_channel),
    col(Lead.status_changed_at),
    col(Lead.status_reason),
    col(Lead.opted_out_sms),
    col(Lead.opted_out_email),
]


def count_matching(session: Session, *, viewer: Viewer, query: SilentQuery, now: datetime) -> int:
    _check(query)
    stmt = select(func.count()).select_from(Lead).where(*filters(viewer, query, now))
    return int(session.execute(stmt).scalar_one())


def list_silent(
    session: Session, *, viewer: Viewer, query: SilentQuery, now: datetime
) -> SilentPage:
    """One page of silent leads with what is planned for each; a page past the end answers the
    last page."""
    total = count_matching(session, viewer=viewer, query=query, now=now)
    page_count = max(1, -(-total // query.page_size))
    page = min(max(1, query.page), page_count)
    reverse, offset, limit = from_the_end((page - 1) * query.page_size, query.page_size, total)
    rows = session.execute(
        select(*_COLUMNS)
        .outerjoin(User, col(User.id) == col(Lead.assigned_user_id))
        .where(*filters(viewer, query, now))
        .order_by(*_order_by(query, reverse=reverse))
        .offset(offset)
        .limit(limit)
    ).all()
    if reverse:
        rows = rows[::-1]
    planned = planned_steps(session, [row[0] for row in rows])
    items = [replace(SilentLead(*row), next=planned.get(row[0])) for row in rows]
    return SilentPage(items=items, total=total, page=page, page_size=query.page_size)


def planned_steps(session: Session, lead_ids: Sequence[int]) -> dict[int, PlannedStep]:
    """Each lead's active nurture and its next step, in one query for a page of leads."""
    if not lead_ids:
        return {}
    step_count = (
        select(func.count())
        .where(col(CampaignStep.campaign_id) == col(Enrollment.campaign_id))
        .correlate(Enrollment)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            col(Enrollment.lead_id),
            col(Campaign.id),
            col(Campaign.name),
            col(Enrollment.current_step),
            step_count,
            col(CampaignStep.channel),
            col(Enrollment.next_run_at),
            col(Enrollment.hold_reason),
        )
        .join(Campaign, col(Campaign.id) == col(Enrollment.campaign_id))
        .outerjoin(
            CampaignStep,
            and_(
                col(CampaignStep.campaign_id) == col(Enrollment.campaign_id),
                col(CampaignStep.position) == col(Enrollment.current_step),
            ),
        )
        .where(
            col(Enrollment.lead_id).in_(list(lead_ids)),
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
        )
    ).all()
    return {
        lead_id: PlannedStep(
            campaign_id=campaign_id,
            campaign=name,
            step=current + 1,
            step_count=count,
            channel=str(channel) if channel else None,
            due_at=due,
            hold_reason=hold,
        )
        for lead_id, campaign_id, name, current, count, channel, due, hold in rows
    }


def matching_ids(
    session: Session,
    *,
    viewer: Viewer,
    query: SilentQuery,
    now: datetime,
    after_id: int = 0,
    limit: int = BULK_CHUNK,
) -> list[int]:
    """The next chunk of ids a bulk action on "all matching" works on, by id (keyset): leads
    the previous chunks changed are past `after_id`, so none is visited twice."""
    _check(query)
    return cast(
        list[int],
        session.execute(
            select(col(Lead.id))
            .where(*filters(viewer, query, now), col(Lead.id) > after_id)
            .order_by(col(Lead.id))
            .limit(limit)
        )
        .scalars()
        .all(),
    )


def _visible_leads(session: Session, viewer: Viewer, lead_ids: Sequence[int]) -> list[Lead]:
    """The leads of `lead_ids` the viewer may act on, locked in id order: two bulk actions
    over overlapping leads queue up instead of deadlocking."""
    if not lead_ids:
        return []
    if len(lead_ids) > BULK_CHUNK * 2:
        raise ValidationFailed(
            "Too many leads in one request.", fields={"lead_ids": f"at most {BULK_CHUNK * 2}"}
        )
    stmt = (
        select(Lead)
        .where(col(Lead.id).in_(list(lead_ids)), *visible_to(viewer))
        .order_by(col(Lead.id))
        .with_for_update()
    )
    return list(session.execute(stmt).scalars())


def snooze(
    session: Session, *, viewer: Viewer, lead_ids: Sequence[int], until: datetime, now: datetime
) -> int:
    """Hide leads from recovery until `until`: out of `silent` now (the detection pass marks
    them again after the date if they still have not answered) and their nurture's next step
    waits for the date. Returns how many leads were snoozed."""
    if not now < until <= now + MAX_SNOOZE:
        raise ValidationFailed("Pick a date in the next 12 months.", fields={"until": "future"})
    leads = [lead for lead in _visible_leads(session, viewer, lead_ids) if _open(lead)]
    reason = f"Snoozed until {until:%b %-d, %Y}"
    for lead in leads:
        lead.snoozed_until = until
        if lead.status == LeadStatus.SILENT:
            timeline.set_status(session, lead, LeadStatus.CONTACTED, now=now, reason=reason)
        timeline.add_activity(
            session,
            lead,
            ActivityKind.SNOOZED,
            now=now,
            actor_user_id=viewer.user_id,
            data={"until": until.isoformat()},
        )
    ids = [pk(lead) for lead in leads]
    if ids:
        session.execute(
            update(Enrollment)
            .where(
                col(Enrollment.lead_id).in_(ids),
                col(Enrollment.status) == EnrollmentStatus.ACTIVE,
                col(Enrollment.next_run_at) < until,
            )
            .values(next_run_at=until, hold_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(leads)


def _open(lead: Lead) -> bool:
    return lead.status not in NOT_LOSABLE


def mark_lost(
    session: Session, *, viewer: Viewer, lead_ids: Sequence[int], reason: str, now: datetime
) -> int:
    """Give up on leads: status `lost` with the reason, and their nurture stops. Converted
    leads are left alone. Returns how many changed."""
    reason = " ".join(reason.split())[:200] or "Marked lost"
    leads = [lead for lead in _visible_leads(session, viewer, lead_ids) if _open(lead)]
    for lead in leads:
        timeline.set_status(session, lead, LeadStatus.LOST, now=now, reason=reason)
    return len(leads)


def assign(
    session: Session, *, viewer: Viewer, lead_ids: Sequence[int], user_id: int, now: datetime
) -> int:
    """Managers give leads to an agent (or another manager). The agent gets one notification
    for the lot. Returns how many leads changed hands."""
    require_manager(viewer, "assign leads")
    user = session.get(User, user_id)
    if user is None or user.tenant_id != viewer.tenant_id or not user.active:
        raise NotFound("No such user.")
    leads = [
        lead
        for lead in _visible_leads(session, viewer, lead_ids)
        if lead.assigned_user_id != user.id
    ]
    for lead in leads:
        lead.assigned_user_id = user.id
        record_assignment(
            session, lead=lead, user=user, now=now, how="manual", actor_user_id=viewer.user_id
        )
    if len(leads) == 1:
        lead = leads[0]
        name = f"{lead.first_name} {lead.last_name}".strip() or lead.phone or lead.email or "A lead"
        title, lead_id = f"Assigned to you: {name}", lead.id
    else:
        title, lead_id = f"{len(leads):,} leads assigned to you", None
    body = f"By {viewer.name or 'a manager'}."
    if leads and user.role == Role.AGENT:
        notify(
            session, user=user, kind="assigned", title=title, body=body, lead_id=lead_id, now=now
        )
    return len(leads)


def enroll(
    session: Session, *, viewer: Viewer, lead_ids: Sequence[int], campaign_id: int, now: datetime
) -> int:
    """Put leads into a campaign now (moving them out of any other). Returns how many were
    enrolled; leads already active in it are left where they are."""
    campaign = campaigns.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
    ids = [pk(lead) for lead in _visible_leads(session, viewer, lead_ids) if _open(lead)]
    if not ids:
        return 0
    enrolled = campaigns.enroll_leads(
        session,
        campaign=campaign,
        lead_ids=ids,
        now=now,
        reason="enrolled by hand",
        actor_user_id=viewer.user_id,
    )
    return len(enrolled)


BULK_ACTIONS = ("enroll", "snooze", "assign", "lost")


def audit_bulk(
    session: Session,
    *,
    viewer: Viewer,
    action: str,
    count: int,
    detail: dict[str, Any],
) -> None:
    """One audit entry for a bulk action over many leads (each lead's timeline has its own)."""
    audit.record(
        session,
        action=f"leads.bulk_{action}",
        entity_type="lead",
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after=cast(dict[str, Any], {"leads": count, **detail}),
    )
