"""REST API for the approval queue under /api/v1/recovery/reviews (Bearer API key): campaigns
in review mode park each AI-drafted message here until a person approves (optionally edited)
or rejects it. Manager keys see the office's drafts, agent keys those of their own leads."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from recovery_app.api.deps import ApiViewer
from recovery_app.api.types import PathId, QueryId
from recovery_app.db import session_scope
from recovery_app.domain.campaigns import review
from recovery_app.domain.ids import RowId
from recovery_app.models import DraftStatus

router = APIRouter(prefix="/recovery/reviews", tags=["approval queue"])


class ReviewOut(BaseModel):
    id: int
    lead_id: int
    lead_name: str
    campaign_id: int
    campaign_name: str
    position: int
    channel: str
    subject: str | None
    body: str
    drafted_by: str
    fallback_subject: str | None
    fallback_body: str
    created_at: datetime

    @classmethod
    def of(cls, item: review.PendingDraft) -> "ReviewOut":
        r, lead = item.review, item.lead
        return cls(
            id=int(r.id or 0),
            lead_id=r.lead_id,
            lead_name=f"{lead.first_name} {lead.last_name}".strip(),
            campaign_id=r.campaign_id,
            campaign_name=item.campaign_name,
            position=r.position,
            channel=str(r.channel),
            subject=r.subject,
            body=r.body,
            drafted_by=r.drafted_by,
            fallback_subject=r.fallback_subject,
            fallback_body=r.fallback_body,
            created_at=r.created_at,
        )


class ReviewListOut(BaseModel):
    items: list[ReviewOut]


class ApproveIn(BaseModel):
    """Leave both out to send the draft as written; the edited text is checked again."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=255)
    body: str | None = Field(default=None, max_length=5000)


class ApproveAllIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: RowId


class DecisionOut(BaseModel):
    status: str
    # The queued message; null when the lead's nurture stopped meanwhile (nothing is sent).
    message_id: int | None


class ApprovedCountOut(BaseModel):
    approved: int


@router.get("", response_model=ReviewListOut, summary="Drafts waiting for a decision, oldest first")
def list_reviews(
    viewer: ApiViewer,
    campaign_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> ReviewListOut:
    with session_scope() as session:
        items = review.pending(session, viewer=viewer, campaign_id=campaign_id, limit=limit)
        return ReviewListOut(items=[ReviewOut.of(item) for item in items])


@router.post(
    "/{review_id}/approve",
    response_model=DecisionOut,
    summary="Send the draft (with an edited subject or body when given)",
)
def approve(review_id: PathId, body: ApproveIn, viewer: ApiViewer) -> DecisionOut:
    with session_scope() as session:
        message = review.approve(
            session,
            viewer=viewer,
            review_id=review_id,
            subject=body.subject,
            body=body.body,
            now=datetime.now(UTC),
        )
        return DecisionOut(status=DraftStatus.APPROVED, message_id=message.id if message else None)


@router.post(
    "/{review_id}/reject",
    response_model=DecisionOut,
    summary="Do not use the AI text: the step's template goes out instead",
)
def reject(review_id: PathId, viewer: ApiViewer) -> DecisionOut:
    with session_scope() as session:
        message = review.reject(session, viewer=viewer, review_id=review_id, now=datetime.now(UTC))
        return DecisionOut(status=DraftStatus.REJECTED, message_id=message.id if message else None)


@router.post(
    "/approve-all",
    response_model=ApprovedCountOut,
    summary="Approve every pending draft of one campaign that the key may decide on",
)
def approve_all(body: ApproveAllIn, viewer: ApiViewer) -> ApprovedCountOut:
    with session_scope() as session:
        count = review.approve_all(
            session, viewer=viewer, campaign_id=body.campaign_id, now=datetime.now(UTC)
        )
        return ApprovedCountOut(approved=count)
