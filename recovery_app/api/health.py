"""`GET /api/v1/health`: can this instance reach its database and Redis, and who leads the
scheduler. 503 when the database is unreachable, so load balancers take the instance out."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from recovery_app.db import session_scope
from recovery_app.models import JobRun, SchedulerLease
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


def _scheduler_status(session: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    lease = session.execute(select(SchedulerLease)).scalars().first()
    leader = lease.holder if lease is not None and lease.expires_at > now else None
    latest = (
        select(JobRun.job_name, func.max(JobRun.started_at).label("started_at"))
        .group_by(JobRun.job_name)
        .subquery()
    )
    runs = session.execute(
        select(JobRun).join(
            latest,
            (JobRun.job_name == latest.c.job_name) & (JobRun.started_at == latest.c.started_at),
        )
    ).scalars()
    return {
        "leader": leader,
        "last_runs": {
            run.job_name: {
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "error": run.error,
            }
            for run in runs
        },
    }


@router.get("/health", summary="Liveness and dependencies of this instance")
def health() -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "db": "ok", "redis": _redis_status()}
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
            body["scheduler"] = _scheduler_status(session)
    except SQLAlchemyError:
        body.update(
            status="unavailable", db="unreachable", scheduler={"leader": None, "last_runs": {}}
        )
        return JSONResponse(body, status_code=503)
    if body["redis"] == "unreachable":
        body["status"] = "degraded"
    return JSONResponse(body)
