"""The floor for the intake benchmark: a minimal Starlette endpoint that takes the same request
and only inserts one row, under the same server (Granian) and worker count, on the same
PostgreSQL. Whatever our intake does beyond this (signature, inbox, dedupe, scoring, routing,
first-response messages, audit) is the price of the product; this is the price of HTTP + JSON +
one INSERT.

    BENCH_FLOOR_DATABASE_URL=postgresql+psycopg://... granian --interface asgi \
        --workers 5 bench.intake_floor:app
"""

import json
import os

from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

engine = create_engine(
    os.environ.get(
        "BENCH_FLOOR_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench"
    ),
    # The same per-process pool as the app (DB_POOL_SIZE / DB_MAX_OVERFLOW defaults).
    pool_size=5,
    max_overflow=5,
    pool_pre_ping=False,
)

INSERT = text(
    "INSERT INTO floor_leads (location_id, email, phone, payload) "
    "VALUES (:location_id, :email, :phone, CAST(:payload AS jsonb)) RETURNING id"
)


def _insert(body: bytes) -> int:
    data = json.loads(body)
    with engine.begin() as conn:
        return conn.execute(
            INSERT,
            {
                "location_id": data.get("location_id"),
                "email": data.get("email"),
                "phone": data.get("phone"),
                "payload": body.decode(),
            },
        ).scalar_one()


async def intake(request: Request) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    lead_id = await run_in_threadpool(_insert, await request.body())
    return JSONResponse({"lead_id": lead_id, "created": True}, status_code=201)


app = Starlette(routes=[Route("/api/v1/webhooks/leads", intake, methods=["POST"])])

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_leads (
    id BIGSERIAL PRIMARY KEY,
    location_id TEXT,
    email TEXT,
    phone TEXT,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
