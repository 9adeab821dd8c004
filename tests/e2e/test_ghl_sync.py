"""The GoHighLevel card and a lead's sync log in a real browser: a manager pastes the token,
saves, and Test connection shows the local GoHighLevel's answer word for word; a lead's page
lists what was written back to GoHighLevel with its answer."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import GHL_LOCATION, GHL_TOKEN, Account, DemoApp, sign_in
from tests.e2e.server import run_cli, run_python

pytestmark = pytest.mark.e2e

# What the ghl_sync job records after writing a note for one of the office's leads.
WRITTEN = """
import json
from datetime import UTC, datetime
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import GhlWrite, Lead, Tenant

with session_scope() as s:
    tenant = s.execute(select(Tenant).where(Tenant.location_id == "harborview-denver")).scalar_one()
    lead = s.execute(
        select(Lead).where(Lead.tenant_id == tenant.id).order_by(Lead.id).limit(1)
    ).scalar_one()
    now = datetime.now(UTC)
    s.add(GhlWrite(
        tenant_id=tenant.id, lead_id=lead.id, kind="note",
        idempotency_key=f"ghl:note:message:e2e-{lead.id}", summary="Note: recovery text sent",
        status="done", attempts=1, ghl_id="note123", result="GoHighLevel answered 201: note note123",
        created_at=now, updated_at=now, done_at=now,
    ))
    print(json.dumps({"id": lead.id}))
"""


def test_manager_connects_ghl_and_reads_a_leads_sync_log(app: DemoApp, page: Page) -> None:
    # An office of the deployment's own (as `recovery create-tenant` makes it): demo offices
    # call nothing outside, their Test buttons included (see the next test).
    run_cli(app.env, "create-tenant", "--name", "Real Office", "--location-id", GHL_LOCATION,
            "--timezone", "America/Denver")  # fmt: skip
    manager = Account("owner@real-office.example", "correct-horse-battery", "manager", GHL_LOCATION)
    _create_user(app, manager)
    sign_in(page, app, manager, path="/settings/office")
    card = page.locator("#integration-ghl-sync")
    expect(card).to_contain_text("GoHighLevel sync")
    expect(page.locator("#ghl-where")).to_contain_text("No token for sub-account")
    page.locator("#ghl-token").fill(GHL_TOKEN)
    card.get_by_role("checkbox", name="Write back to GoHighLevel").click()
    page.locator("#ghl-save").click()
    expect(page.get_by_text("GoHighLevel settings saved.")).to_be_visible()
    expect(page.locator("#ghl-where")).to_contain_text("token …oken")
    page.locator("#ghl-test").click()
    expect(page.locator("#ghl-test-answer")).to_have_text(
        f"GoHighLevel answered 200: location {GHL_LOCATION} has 0 contacts; 1 pipeline (Sales)"
    )


def test_a_demo_office_makes_no_outside_call(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager", tenant="harborview-denver"), path="/settings/office")
    expect(page.locator("#ghl-where")).to_contain_text("A demo office")
    page.locator("#ghl-token").fill(GHL_TOKEN)
    page.locator("#ghl-save").click()
    expect(page.get_by_text("GoHighLevel settings saved.")).to_be_visible()
    page.locator("#ghl-test").click()
    expect(
        page.get_by_text(re.compile("This is a demo office: it makes no calls outside"))
    ).to_be_visible()

    lead = json.loads(run_python(app.env, WRITTEN).strip().splitlines()[-1])
    page.goto(f"{app.url}/leads/{lead['id']}")
    log = page.locator("#ghl-sync-log")
    expect(log).to_contain_text("Note: recovery text sent")
    expect(log.locator(".sync-row").first).to_contain_text(re.compile("written"))
    expect(log).to_contain_text("GoHighLevel answered 201: note note123")


def _create_user(app: DemoApp, account: Account) -> None:
    import subprocess

    from tests.e2e.server import BIN, ROOT

    subprocess.run(
        [str(BIN / "recovery"), "create-user", "--email", account.email, "--role", account.role,
         "--tenant", account.tenant, "--password-stdin", "--name", "Rhea Owner"],
        input=account.password, env=app.env, cwd=ROOT, check=True, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
