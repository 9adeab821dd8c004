"""`GET /api/v1/health`: can this instance reach its database and Redis, who leads the scheduler,
how deep the outbox is. 503 when the database is unreachable, so load balancers take the
instance out. `GET /api/v1/metrics`: the Prometheus scrape (observability.exposition)."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recovery_app.db import session_scope
from recovery_app.jobs.status import scheduler_status
from recovery_app.messaging.repository import outbox_depth
from recovery_app.observability import exposition
from recovery_app.settings import get_settings

router = APIRouter()


def _redis_status() -> str:
    url = get_settings().redis_url
    if not url:
        return "not_configured"
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError:
        return "unreachable"
    return "ok"


def _outbox(session: Any, now: datetime) -> dict[str, Any]:
    depth = outbox_depth(session, now=now)
    return {
        "queued": depth.queued,
        "due": depth.due,
        "sending": depth.sending,
        "oldest_due_age_seconds": round((now - depth.oldest_due_at).total_seconds(), 1)
        if depth.oldest_due_at
        else None,
    }


@router.get("/health", summary="Liveness and dependencies of this instance")
def health() -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "db": "ok", "redis": _redis_status()}
    now = datetime.now(UTC)
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
            body["scheduler"] = scheduler_status(session, now)
            body["outbox"] = _outbox(session, now)
    except SQLAlchemyError:
        body.update(
            status="unavailable",
            db="unreachable",
            scheduler={"leader": None, "last_runs": {}},
            outbox=None,
        )
        return JSONResponse(body, status_code=503)
    if body["redis"] == "unreachable":
        body["status"] = "degraded"
    return JSONResponse(body)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format), the same from every worker",
    response_class=Response,
)
async def metrics() -> Response:
    payload, content_type = await run_in_threadpool(exposition.render, session_scope)
    return Response(payload, media_type=content_type)
