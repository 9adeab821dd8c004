"""CSV export of the Leads page's current view, as a file download.

A plain GET the browser follows from the page, so a large export streams as a file instead of
travelling through the websocket as one event. The browser's HttpOnly session cookie says who
is asking (a manager's Bearer API key works too, for scripts); the filters are the page's.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, Query
from fastapi.responses import Response

from recovery_app.api.deps import api_viewer
from recovery_app.db import session_scope
from recovery_app.domain.accounts import auth
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.leads import csv_io
from recovery_app.domain.leads.schemas import LeadQuery
from recovery_app.models import LeadStatus, Temperature

router = APIRouter(prefix="/exports", tags=["exports"])

UNASSIGNED = "unassigned"


def _viewer(session_cookie: str | None, authorization: str | None) -> Viewer:
    if authorization:
        return api_viewer(authorization)
    with session_scope() as session:
        return auth.resolve_session(session, token=session_cookie, now=datetime.now(UTC))


@router.get(
    "/leads.csv",
    summary="The filtered leads as CSV (managers)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_leads(
    status: LeadStatus | None = None,
    temperature: Temperature | None = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(pattern=r"^(\d{1,18}|unassigned)$")] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    silent_for_hours: Annotated[int | None, Query(ge=0, le=8760)] = None,
    silent_max_hours: Annotated[int | None, Query(ge=0, le=8760)] = None,
    open: bool = False,
    q: Annotated[str, Query(max_length=100)] = "",
    authorization: Annotated[str | None, Header()] = None,
    session_cookie: Annotated[str | None, Cookie(alias=auth.SESSION_COOKIE)] = None,
) -> Response:
    viewer = _viewer(session_cookie, authorization)
    query = LeadQuery(
        status=status,
        temperature=temperature,
        source=source or None,
        assigned_user_id=(0 if agent == UNASSIGNED else int(agent)) if agent else None,
        min_score=min_score,
        max_score=max_score,
        silent_for_hours=silent_for_hours,
        silent_max_hours=silent_max_hours,
        open_only=open,
        text=q,
    )
    now = datetime.now(UTC)
    with session_scope() as session:
        text, _ = csv_io.export_csv(session, viewer=viewer, query=query, now=now)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="leads-{now:%Y%m%d-%H%M}.csv"',
            "Cache-Control": "no-store",
        },
    )
