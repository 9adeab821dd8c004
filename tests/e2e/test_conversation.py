"""The lead page as a two-way conversation in a real browser: an agent writes a text (the page
says what the guard does with it), saves a note, and the lead's reply appears without a
reload."""

import json
import re
import subprocess

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in
from tests.e2e.server import BIN, ROOT

pytestmark = pytest.mark.e2e

PICK = """
import json, sys
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import Lead, User

with session_scope() as s:
    agent = s.execute(select(User).where(User.email == sys.argv[1])).scalar_one()
    lead = s.execute(
        select(Lead).where(Lead.assigned_user_id == agent.id, Lead.consent_sms.is_(True),
                           Lead.opted_out_sms.is_(False), Lead.phone.is_not(None),
                           Lead.status.not_in(["converted", "lost"]))
        .order_by(Lead.id.desc()).limit(1)
    ).scalar_one()
    print(json.dumps({"id": lead.id}))
"""
# The lead texting back, as the Twilio webhook's processing records it (the provider itself
# lies outside this machine).
REPLY = """
import sys
from datetime import UTC, datetime
from recovery_app.db import session_scope
from recovery_app.domain.leads import timeline
from recovery_app.models import Lead, Message

with session_scope() as s:
    lead = s.get(Lead, int(sys.argv[1]))
    now = datetime.now(UTC)
    reply = Message(tenant_id=lead.tenant_id, lead_id=lead.id, channel="sms", direction="inbound",
                    status="received", body=sys.argv[2], from_address=lead.phone,
                    idempotency_key=f"e2e-reply:{now.timestamp()}", created_at=now, updated_at=now)
    s.add(reply); s.flush()
    timeline.record_reply(s, lead, reply, now=now)
"""


def _python(app: DemoApp, script: str, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "-c", script, *args],
        env=app.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_agent_writes_notes_and_sees_the_reply_arrive(app: DemoApp, page: Page) -> None:
    agent = app.account("agent")
    lead_id = json.loads(_python(app, PICK, agent.email).strip().splitlines()[-1])["id"]
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

    _python(app, REPLY, str(lead_id), "Yes, 4 works. Is the yard fenced?")
    expect(page.locator(".message-row").filter(has_text="Is the yard fenced?")).to_be_visible(
        timeout=8_000
    )
