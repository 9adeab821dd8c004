"""The floor of the peer benchmark: the same lead-intake workload done with the least code -
bare Starlette, one psycopg INSERT (bench/intake_floor.py's), a score computed in the request,
and the first-response SMS posted to Twilio's Messages API before answering, as the n8n
workflow beside it does. No signature check, dedupe, inbox, routing, audit, retries or email:
whatever the engine does beyond this is the price of the product.

    BENCH_FLOOR_DATABASE_URL=postgresql+psycopg://... BENCH_TWILIO_API_BASE_URL=http://... \\
        granian --interface asgi --workers 5 bench.peers.floor:app
"""

import json
import os
import re
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.intake_floor import _insert

TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "bench-token"
TWILIO_FROM_NUMBER = "+15125550100"
OFFICE = "Bench Realty"
STATUS_CALLBACK = "https://leads.example.com/api/v1/webhooks/twilio/status"

# The same rules as the n8n workflow's Code node (workflow.json): a few named factors summed.
SOURCE_POINTS = {"referral": 25, "open_house": 20, "web_form": 15, "ghl": 15, "portal": 10}
INTENT = re.compile(r"pre-?approv|cash buyer|ready to|asap|tour|showing|sell my|offer", re.I)
TIMELINE = re.compile(r"asap|this (week|month)|next month|\bin [1-3] months?\b", re.I)


def lead_score(lead: dict) -> tuple[int, str]:
    """0..100 and its temperature (hot >= 70, warm >= 40, cold below)."""
    message = lead.get("message") or ""
    value = lead.get("value") or 0
    score = 20 + SOURCE_POINTS.get(lead.get("source") or "", 5)
    score += 10 if lead.get("phone") else 0
    score += 5 if lead.get("email") else 0
    score += 20 if INTENT.search(message) else 0
    score += 15 if TIMELINE.search(message) else 0
    score += 10 if value >= 500_000 else 5 if value >= 250_000 else 0
    score = max(0, min(100, score))
    return score, "hot" if score >= 70 else "warm" if score >= 40 else "cold"


def first_text(lead: dict) -> str:
    return (
        f"Hi {lead.get('first_name') or 'there'}, thanks for reaching out to {OFFICE}! "
        "An agent will text you shortly. Reply STOP to opt out."
    )


def sms_form(lead: dict) -> dict[str, str]:
    """The form fields the engine's dispatcher sends through the Twilio SDK."""
    return {
        "To": lead["phone"],
        "From": TWILIO_FROM_NUMBER,
        "Body": first_text(lead),
        "StatusCallback": STATUS_CALLBACK,
        "ValidityPeriod": "3600",
    }


@asynccontextmanager
async def lifespan(app: Starlette):
    # One client per worker, kept alive across requests, like the Twilio SDK's session.
    async with httpx.AsyncClient(
        base_url=os.environ["BENCH_TWILIO_API_BASE_URL"],
        auth=(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
        timeout=10,
    ) as client:
        app.state.twilio = client
        yield


async def intake(request: Request) -> JSONResponse:
    body = await request.body()
    lead = json.loads(body)
    lead_id = await run_in_threadpool(_insert, body)
    score, temperature = lead_score(lead)
    sent = await request.app.state.twilio.post(
        f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json", data=sms_form(lead)
    )
    sent.raise_for_status()
    return JSONResponse(
        {"lead_id": lead_id, "created": True, "score": score, "temperature": temperature},
        status_code=201,
    )


app = Starlette(
    routes=[Route("/api/v1/webhooks/leads", intake, methods=["POST"])], lifespan=lifespan
)
