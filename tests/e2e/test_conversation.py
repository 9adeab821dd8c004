"""The lead page as a two-way conversation in a real browser: an agent writes a text (the page
says what the guard does with it), saves a note, and the lead's reply - posted to our Twilio
webhook, signed as Twilio signs it - appears without a reload."""

import json
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect
from twilio.request_validator import RequestValidator

from tests.e2e.conftest import TWILIO_AUTH_TOKEN, DemoApp, sign_in
from tests.e2e.server import run_python

pytestmark = pytest.mark.e2e

PICK = """
import json, sys
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import Lead, Tenant, User

with session_scope() as s:
    agent = s.execute(select(User).where(User.email == sys.argv[1])).scalar_one()
    lead = s.execute(
        select(Lead).where(Lead.assigned_user_id == agent.id, Lead.consent_sms.is_(True),
                           Lead.opted_out_sms.is_(False), Lead.consent_sms.is_(True),
                           Lead.phone.is_not(None),
                           Lead.status.not_in(["converted", "lost"]))
        .order_by(Lead.id.desc()).limit(1)
    ).scalar_one()
    tenant = s.get(Tenant, lead.tenant_id)
    print(json.dumps({"id": lead.id, "phone": lead.phone, "to": tenant.sender_phone}))
"""
# What Twilio posts to our inbound-SMS webhook when the lead texts back, signed as Twilio signs
# it: HMAC-SHA1 with the account's auth token over the configured URL and the form fields.


def _twilio_reply(app: DemoApp, sender: str, receiver: str, body: str) -> None:
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": receiver,
        "Body": body,
        "NumMedia": "0",
    }
    path = "/api/v1/webhooks/twilio/sms"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
        app.env["APP_BASE_URL"] + path, params
    )
    answer = httpx.post(
        app.server.api_url + path,
        data=params,
        headers={"X-Twilio-Signature": signature},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_agent_writes_notes_and_sees_the_reply_arrive(app: DemoApp, page: Page) -> None:
    agent = app.account("agent")
    picked = json.loads(run_python(app.env, PICK, agent.email).strip().splitlines()[-1])
    lead_id = picked["id"]
    sign_in(page, app, agent, path=f"/leads/{lead_id}")
    expect(page.locator("#lead-title")).to_have_text(re.compile(r"\S"))
    expect(page.locator("#score-trend")).to_be_visible()  # the score over time

    page.locator("#compose-body").fill("Hi! Are you free for a call at 4?")
    page.locator("#compose-send").click()
    expect(page.locator("#compose-result")).to_have_text(re.compile(r"^Queued"))
    expect(page.locator("#compose-body")).to_have_value("")

    page.locator("#note-text").fill("Prefers texts after 5 pm")
    page.locator("#note-save").click()
    expect(page.get_by_text("Note saved.")).to_be_visible()
    expect(page.get_by_text("Prefers texts after 5 pm")).to_be_visible()

    _twilio_reply(app, picked["phone"], picked["to"], "Yes, 4 works. Is the yard fenced?")
    expect(page.locator(".message-row").filter(has_text="Is the yard fenced?")).to_be_visible(
        timeout=8_000
    )


# A lead of the agent's that never wrote to us, moved to a time zone where it is night now:
# a text to it must wait for the morning, and the page must say so.
NIGHT_LEAD = """
import json, sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import Lead, User

zones = ["Pacific/Honolulu", "America/Los_Angeles", "America/Chicago", "America/New_York",
         "Europe/London", "Europe/Berlin", "Asia/Dubai", "Asia/Kolkata", "Asia/Tokyo",
         "Australia/Sydney", "Pacific/Auckland"]
now = datetime.now(UTC)
# 22:00-07:00 local, well inside anyone's quiet hours (the law's are 21:00-08:00).
zone = next(z for z in zones if not 7 <= now.astimezone(ZoneInfo(z)).hour < 22)
with session_scope() as s:
    agent = s.execute(select(User).where(User.email == sys.argv[1])).scalar_one()
    lead = s.execute(
        select(Lead).where(Lead.assigned_user_id == agent.id, Lead.last_inbound_at.is_(None),
                           Lead.opted_out_sms.is_(False), Lead.consent_sms.is_(True),
                           Lead.phone.is_not(None),
                           Lead.status.not_in(["converted", "lost"]))
        .order_by(Lead.id).limit(1)
    ).scalar_one()
    lead.timezone = zone
    print(json.dumps({"id": lead.id, "zone": zone}))
"""


def test_a_text_in_quiet_hours_waits_and_says_why(app: DemoApp, page: Page) -> None:
    agent = app.account("agent")
    picked = json.loads(run_python(app.env, NIGHT_LEAD, agent.email).strip().splitlines()[-1])
    sign_in(page, app, agent, path=f"/leads/{picked['id']}")
    expect(page.locator("#lead-title")).to_have_text(re.compile(r"\S"))
    page.locator("#compose-body").fill("Hi! Quick question about the listing.")
    page.locator("#compose-send").click()
    result = page.locator("#compose-result")
    expect(result).to_have_text(re.compile(r"^Queued, but held: .*quiet hours", re.IGNORECASE))
    expect(result).to_contain_text(picked["zone"])


def test_an_agent_cannot_open_another_agents_lead(app: DemoApp, page: Page) -> None:
    mine, theirs = app.account("agent", index=0), app.account("agent", index=1)
    other = json.loads(run_python(app.env, PICK, theirs.email).strip().splitlines()[-1])
    sign_in(page, app, mine, path=f"/leads/{other['id']}")
    expect(page.get_by_text("No such lead.")).to_be_visible()
    expect(page.locator("#lead-missing")).to_be_visible()
    expect(page.locator("#compose-body")).to_have_count(0)
    expect(page.locator("#lead-title")).to_have_count(0)
