"""REST API under /api/v1/recovery (Bearer API key). Manager keys see the tenant; agent keys
see their own leads. A lead outside the caller's view answers 404, never someone else's data."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from recovery_app.api.deps import ApiViewer
from recovery_app.api.schemas import ActivityOut, LeadDetailOut, LeadListOut, LeadOut, MessageOut
from recovery_app.db import session_scope
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
def get_lead(lead_id: int, viewer: ApiViewer) -> LeadDetailOut:
    with session_scope() as session:
        detail = leads.get_lead_detail(session, viewer=viewer, lead_id=lead_id)
        return LeadDetailOut(
            **LeadOut.of(detail.lead).model_dump(),
            assigned_name=detail.assigned_name,
            activities=[ActivityOut.of(a) for a in detail.activities],
            messages=[MessageOut.of(m) for m in detail.messages],
        )
