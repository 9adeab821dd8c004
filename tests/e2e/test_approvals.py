"""Approvals in a real browser: an agent goes through the drafts of their leads with the
keyboard - edits one and approves it, rejects the next - and the queue empties."""

import json
import re
import subprocess

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in
from tests.e2e.server import BIN, ROOT

pytestmark = pytest.mark.e2e

# A pending draft for each of two of the agent's leads, written through the app's own models
# against the e2e database (campaigns in review mode park AI drafts exactly like this).
SEED = """
import json, sys
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import Campaign, CampaignStep, DraftReview, Enrollment, Lead, User

with session_scope() as s:
    agent = s.execute(select(User).where(User.email == sys.argv[1])).scalar_one()
    leads = s.execute(
        select(Lead).where(Lead.assigned_user_id == agent.id, Lead.status != "converted",
                           Lead.opted_out_sms.is_(False), Lead.phone.is_not(None))
        .order_by(Lead.id).limit(2)
    ).scalars().all()
    campaign = Campaign(tenant_id=agent.tenant_id, name="E2E review", status="active", autopilot=False)
    s.add(campaign); s.flush()
    step = CampaignStep(campaign_id=campaign.id, position=0, channel="sms", body="Hi")
    s.add(step); s.flush()
    for n, lead in enumerate(leads, start=1):
        enrollment = Enrollment(tenant_id=lead.tenant_id, lead_id=lead.id, campaign_id=campaign.id)
        s.add(enrollment); s.flush()
        s.add(DraftReview(tenant_id=lead.tenant_id, campaign_id=campaign.id,
            campaign_step_id=step.id, enrollment_id=enrollment.id, lead_id=lead.id, position=0,
            channel="sms", drafted_by="ai", body=f"Hi {{{{first_name}}}}, AI draft {n}. Reply STOP to opt out.",
            fallback_body="Hi {{first_name}}, template. Reply STOP to opt out."))
        s.flush()
    lead = leads[0]
    print(json.dumps({"lead": f"{lead.first_name} {lead.last_name}"}))
"""


def test_agent_works_through_the_queue_with_the_keyboard(app: DemoApp, page: Page) -> None:
    agent = app.account("agent")
    seeded = subprocess.run(
        [str(BIN / "python"), "-c", SEED, agent.email],
        env=app.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    lead_name = json.loads(seeded.stdout.strip().splitlines()[-1])["lead"]

    sign_in(page, app, agent, path="/approvals")
    rows = page.locator(".draft-row")
    expect(rows).to_have_count(2)
    expect(page.locator("#draft-lead")).to_have_text(lead_name)
    body = page.locator("#draft-body")
    expect(body).to_have_value(re.compile("AI draft 1"))

    body.fill("Hi {{first_name}}, edited by me. Reply STOP to opt out.")
    body.blur()  # leave the editor: the shortcuts do not fire while typing
    page.keyboard.press("a")
    expect(page.get_by_text("Approved: it goes out through the outbox.")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(body).to_have_value(re.compile("AI draft 2"))

    page.keyboard.press("r")
    expect(page.get_by_text("Rejected: the step's template goes out instead.")).to_be_visible()
    expect(page.locator("#queue-empty")).to_be_visible()
