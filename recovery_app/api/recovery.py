"""REST API under /api/v1/recovery (Bearer API key). Manager keys see the tenant; agent keys
see their own leads. A lead outside the caller's view answers 404, never someone else's data."""

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from recovery_app.api.deps import ApiViewer
from recovery_app.api.schemas import (
    ActivityOut,
    AnalyticsOut,
    CampaignListOut,
    CampaignOut,
    CohortOut,
    DaySpeedOut,
    LeadDetailOut,
    LeadListOut,
    LeadOut,
    MessageOut,
    RevenueSliceOut,
    TriggerIn,
    TriggerOut,
)
from recovery_app.api.types import PathId
from recovery_app.db import session_scope
from recovery_app.domain.analytics import roi
from recovery_app.domain.campaigns import recovery
from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.campaigns.schemas import CampaignIn, CampaignPatch
from recovery_app.domain.leads import service as leads
from recovery_app.domain.leads.schemas import LeadQuery
from recovery_app.models import LeadStatus, Temperature

router = APIRouter(prefix="/recovery", tags=["recovery"])


@router.get("/leads", response_model=LeadListOut, summary="List leads, newest first")
def list_leads(
    viewer: ApiViewer,
    status: LeadStatus | None = None,
    temperature: Temperature | None = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    silent_for_hours: Annotated[int | None, Query(ge=0, le=8760)] = None,
    q: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LeadListOut:
    query = LeadQuery(
        status=status,
        temperature=temperature,
        min_score=min_score,
        silent_for_hours=silent_for_hours,
        text=q,
    )
    with session_scope() as session:
        rows, next_cursor = leads.leads_by_cursor(
            session, viewer=viewer, query=query, cursor=cursor, limit=limit, now=datetime.now(UTC)
        )
        return LeadListOut(items=[LeadOut.of(lead) for lead in rows], next_cursor=next_cursor)


@router.get("/leads/{lead_id}", response_model=LeadDetailOut, summary="One lead with its timeline")
def get_lead(lead_id: PathId, viewer: ApiViewer) -> LeadDetailOut:
    with session_scope() as session:
        detail = leads.get_lead_detail(session, viewer=viewer, lead_id=lead_id)
        return LeadDetailOut(
            **LeadOut.of(detail.lead).model_dump(),
            assigned_name=detail.assigned_name,
            activities=[ActivityOut.of(a) for a in detail.activities],
            messages=[MessageOut.of(m) for m in detail.messages],
        )


@router.post(
    "/trigger",
    status_code=202,
    response_model=TriggerOut,
    summary="Enroll a lead in a campaign, or send it the next best recovery message now",
)
def trigger(
    body: TriggerIn,
    viewer: ApiViewer,
    idempotency_key: Annotated[str | None, Header(max_length=120)] = None,
) -> TriggerOut:
    with session_scope() as session:
        result = recovery.trigger(
            session,
            viewer=viewer,
            lead_id=body.lead_id,
            campaign_id=body.campaign_id,
            idempotency_key=idempotency_key,
            now=datetime.now(UTC),
        )
        return _trigger_out(result)


def _trigger_out(result: recovery.TriggerResult) -> TriggerOut:
    return TriggerOut(**{name: getattr(result, name) for name in TriggerOut.model_fields})


@router.get("/campaigns", response_model=CampaignListOut, summary="The tenant's campaigns")
def list_campaigns(viewer: ApiViewer) -> CampaignListOut:
    with session_scope() as session:
        rows = campaigns.list_campaigns(session, viewer=viewer)
        return CampaignListOut(items=[CampaignOut.of(campaigns.describe(session, c)) for c in rows])


@router.post(
    "/campaigns", status_code=201, response_model=CampaignOut, summary="Create a campaign (draft)"
)
def create_campaign(body: CampaignIn, viewer: ApiViewer) -> CampaignOut:
    with session_scope() as session:
        campaign = campaigns.create_campaign(
            session, viewer=viewer, data=body, now=datetime.now(UTC)
        )
        return CampaignOut.of(campaigns.describe(session, campaign))


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, summary="One campaign")
def get_campaign(campaign_id: PathId, viewer: ApiViewer) -> CampaignOut:
    with session_scope() as session:
        campaign = campaigns.get_campaign(session, viewer=viewer, campaign_id=campaign_id)
        return CampaignOut.of(campaigns.describe(session, campaign))


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignOut,
    summary='Change a campaign; {"status": "active"} launches or resumes it, "paused" pauses it',
)
def update_campaign(campaign_id: PathId, body: CampaignPatch, viewer: ApiViewer) -> CampaignOut:
    with session_scope() as session:
        campaign = campaigns.update_campaign(
            session,
            viewer=viewer,
            campaign_id=campaign_id,
            changes=body,
            now=datetime.now(UTC),
        )
        return CampaignOut.of(campaigns.describe(session, campaign))


@router.delete(
    "/campaigns/{campaign_id}",
    status_code=204,
    summary="Delete a draft, or archive a campaign that ran (its results stay)",
)
def delete_campaign(campaign_id: PathId, viewer: ApiViewer) -> Response:
    with session_scope() as session:
        campaigns.archive(session, viewer=viewer, campaign_id=campaign_id, now=datetime.now(UTC))
    return Response(status_code=204)


def _slices(slices: list[roi.Slice]) -> list[RevenueSliceOut]:
    return [
        RevenueSliceOut(
            key=s.key,
            label=s.label,
            deals=s.deals,
            revenue_cents=s.revenue_cents,
            sent=s.sent,
            cost_microdollars=s.cost_microdollars,
            roi=None if s.roi is None else round(s.roi, 3),
        )
        for s in slices
    ]


def _cohort(cohort: roi.Cohort | None) -> CohortOut | None:
    if cohort is None:
        return None
    return CohortOut(
        start=cohort.start,
        end=cohort.end,
        went_silent=cohort.went_silent,
        recovered=cohort.recovered,
        rate=cohort.rate,
    )


@router.get(
    "/analytics",
    response_model=AnalyticsOut,
    summary="Funnel, recovery rate, response times and ROI by campaign/channel (manager keys)",
)
def analytics(
    viewer: ApiViewer,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    model: Annotated[str, Query(pattern="^(first_touch|last_touch|linear)$")] = "last_touch",
) -> AnalyticsOut:
    """Local days of the office, `from`..`to` inclusive (default: the last 30 days)."""
    now = datetime.now(UTC)
    with session_scope() as session:
        today = roi.office_clock(session, viewer=viewer, now=now).date()
        period = roi.Period.of(start, end, today)
        report = roi.report(session, viewer=viewer, period=period, model=model, now=now)
        moved = roi.flow(session, viewer=viewer, period=period)
    costs = report.costs
    return AnalyticsOut(
        start=period.start,
        end=period.end,
        model=model,
        attribution_window_days=report.window_days,
        funnel=moved.counts,
        recovery_rate=moved.recovery_rate,
        response_times=[
            DaySpeedOut(day=day, speed_p50_seconds=p50, speed_p90_seconds=p90)
            for day, p50, p90 in moved.speeds
        ],
        revenue_cents=report.revenue_cents,
        deals=report.deals,
        closed_revenue_cents=report.closed_revenue_cents,
        closed_deals=report.closed_deals,
        costs_microdollars={
            "sms": costs.sms_microdollars,
            "email": costs.email_microdollars,
            "ai": costs.ai_microdollars,
            "agent_time": costs.agent_microdollars,
            "lead_sources": costs.source_microdollars,
            "total": costs.total_microdollars,
        },
        roi=None if report.roi is None else round(report.roi, 3),
        cost_per_recovered_cents=report.cost_per_recovered_cents,
        go_live=report.before_after.go_live,
        before_go_live=_cohort(report.before_after.before),
        after_go_live=_cohort(report.before_after.after),
        by_campaign=_slices(report.by_campaign),
        by_channel=_slices(report.by_channel),
        by_source=_slices(report.by_source),
        by_agent=_slices(report.by_agent),
    )
