"""What each campaign has done so far, for the campaign list: enrolled, sent, delivered, replied,
recovered, converted, revenue, cost and ROI (revenue over cost, as on the ROI page).

Five grouped queries (steps, messages, enrollments, deals, AI drafts: GROUP BY campaign), whatever the
number of campaigns or messages; Python only puts the rows side by side. The message figures
come from the campaigns' running totals (domain/metrics/running_totals.py), which triggers keep
as messages are written; `live_message_figures` counts the same from the messages.
- sent: our messages of the campaign that left (sent, delivered, simulated in a sandbox...);
- delivered: those the carrier or the mailbox confirmed (delivered, opened, clicked, replied);
- replied: those the lead answered;
- recovered: enrolled leads who answered while in the campaign (a reply stops the enrollment);
- converted / revenue: deals credited to the campaign;
- cost: what its messages cost as sent, plus the AI drafts written for its steps.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.metrics import running_totals
from recovery_app.models import (
    AiDraft,
    Campaign,
    CampaignStep,
    Conversion,
    Direction,
    Enrollment,
    EnrollmentStatus,
    Message,
    MessageStatus,
)

DELIVERED = (
    MessageStatus.DELIVERED,
    MessageStatus.OPENED,
    MessageStatus.CLICKED,
    MessageStatus.REPLIED,
)
# The enrollment's stopped_reason when the lead's reply stopped it (timeline.record_reply).
REPLIED = "replied"


@dataclass(frozen=True, slots=True)
class CampaignPerformance:
    steps: int = 0
    enrolled: int = 0
    active: int = 0
    sent: int = 0
    delivered: int = 0
    replied: int = 0
    recovered: int = 0
    converted: int = 0
    revenue_cents: int = 0
    cost_microdollars: int = 0

    @property
    def roi(self) -> float | None:
        """Revenue per dollar spent; None before anything was spent."""
        if not self.cost_microdollars:
            return None
        return (self.revenue_cents * 10_000) / self.cost_microdollars


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def performance(session: Session, *, viewer: Viewer) -> dict[int, CampaignPerformance]:
    """Every campaign of the viewer's office (archived ones too) -> what it has done so far."""
    require_manager(viewer, "see campaign results")
    ours = select(col(Campaign.id)).where(col(Campaign.tenant_id) == viewer.tenant_id)
    figures: dict[int, dict[str, int]] = {}

    def put(campaign_id: Any, **values: Any) -> None:
        row = figures.setdefault(int(campaign_id), {})
        row.update({name: int(value or 0) for name, value in values.items()})

    for campaign_id, sent, got, replied, cost in running_totals.campaign_totals(
        session, tenant_id=viewer.tenant_id, campaign_ids=ours
    ):
        put(campaign_id, sent=sent, delivered=got, replied=replied, message_cost=cost)

    for campaign_id, enrolled, active, recovered in session.execute(
        select(
            col(Enrollment.campaign_id),
            func.count(),
            _count_if(col(Enrollment.status) == EnrollmentStatus.ACTIVE),
            _count_if(col(Enrollment.stopped_reason) == REPLIED),
        )
        .where(col(Enrollment.tenant_id) == viewer.tenant_id)
        .group_by(col(Enrollment.campaign_id))
    ).all():
        put(campaign_id, enrolled=enrolled, active=active, recovered=recovered)

    for campaign_id, converted, revenue in session.execute(
        select(
            col(Conversion.attributed_campaign_id),
            func.count(func.distinct(col(Conversion.lead_id))),
            func.coalesce(func.sum(col(Conversion.value_cents)), 0),
        )
        .where(
            col(Conversion.tenant_id) == viewer.tenant_id,
            col(Conversion.attributed_campaign_id).is_not(None),
        )
        .group_by(col(Conversion.attributed_campaign_id))
    ).all():
        put(campaign_id, converted=converted, revenue_cents=revenue)

    for campaign_id, steps in session.execute(
        select(col(CampaignStep.campaign_id), func.count())
        .where(col(CampaignStep.campaign_id).in_(ours))
        .group_by(col(CampaignStep.campaign_id))
    ).all():
        put(campaign_id, steps=steps)

    for campaign_id, ai_cost in session.execute(
        select(col(CampaignStep.campaign_id), func.sum(col(AiDraft.cost_microdollars)))
        .join(CampaignStep, col(CampaignStep.id) == col(AiDraft.campaign_step_id))
        .where(col(AiDraft.tenant_id) == viewer.tenant_id)
        .group_by(col(CampaignStep.campaign_id))
    ).all():
        put(campaign_id, ai_cost=ai_cost)

    return {
        campaign_id: CampaignPerformance(
            steps=row.get("steps", 0),
            enrolled=row.get("enrolled", 0),
            active=row.get("active", 0),
            sent=row.get("sent", 0),
            delivered=row.get("delivered", 0),
            replied=row.get("replied", 0),
            recovered=row.get("recovered", 0),
            converted=row.get("converted", 0),
            revenue_cents=row.get("revenue_cents", 0),
            cost_microdollars=row.get("message_cost", 0) + row.get("ai_cost", 0),
        )
        for campaign_id, row in figures.items()
    }


def live_message_figures(session: Session, *, viewer: Viewer) -> dict[int, tuple[int, ...]]:
    """Campaign id -> (sent, delivered, replied, cost) counted from the messages themselves:
    what the running totals hold (the tests compare the two)."""
    ours = select(col(Campaign.id)).where(col(Campaign.tenant_id) == viewer.tenant_id)
    delivered = or_(col(Message.delivered_at).is_not(None), col(Message.status).in_(DELIVERED))
    rows = session.execute(
        select(
            col(Message.campaign_id),
            func.count(col(Message.sent_at)),
            _count_if(delivered),
            func.count(col(Message.replied_at)),
            func.coalesce(func.sum(col(Message.cost_microdollars)), 0),
        )
        .where(
            col(Message.tenant_id) == viewer.tenant_id,
            col(Message.campaign_id).in_(ours),
            col(Message.direction) == Direction.OUTBOUND,
        )
        .group_by(col(Message.campaign_id))
    ).all()
    return {int(row[0]): tuple(int(v or 0) for v in row[1:]) for row in rows}
