"""`GET /api/v1/health`: can this instance reach its database and Redis, and who leads the
scheduler. 503 when the database is unreachable, so load balancers take the instance out."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from recovery_app.db import session_scope
from recovery_app.jobs.status import scheduler_status
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


@router.get("/health", summary="Liveness and dependencies of this instance")
def health() -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "db": "ok", "redis": _redis_status()}
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
            body["scheduler"] = scheduler_status(session, datetime.now(UTC))
    except SQLAlchemyError:
        body.update(
            status="unavailable", db="unreachable", scheduler={"leader": None, "last_runs": {}}
        )
        return JSONResponse(body, status_code=503)
    if body["redis"] == "unreachable":
        body["status"] = "degraded"
    return JSONResponse(body)
