"""Intake to follow-up in a real browser: a webhook lead notifies its owner through the bell,
the lead page shows speed to lead, agents claim from the pool, managers import and export CSV."""

import csv
import io
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in
from tests.e2e.server import run_cli

pytestmark = pytest.mark.e2e


def _email_of(app: DemoApp, name: str) -> str:
    """Demo accounts are first.last@...: the account of the agent shown as `name`."""
    local = name.lower().replace(" ", ".") + "@"
    return next(a.email for a in app.accounts if a.email.startswith(local))


def test_webhook_lead_reaches_its_owner(app: DemoApp, page: Page) -> None:
    key = run_cli(
        app.env, "create-api-key", "--role", "manager", "--tenant", "harborview-austin"
    ).splitlines()[-1]
    answer = httpx.post(
        f"{app.server.api_url}/api/v1/webhooks/leads",
        json={
            "first_name": "Webhook",
            "last_name": "Walker",
            "email": "webhook.walker@example.com",
            "phone": "+15125550177",
            "source": "web_form",
            "message": "Looking for a 3-bed near Zilker",
            "consent": {"sms": True, "email": True},
        },
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "e2e-webhook-1"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["lead_id"]

    manager = app.account("manager")
    sign_in(page, app, manager, path=f"/leads/{lead_id}")
    expect(page.locator("#lead-title")).to_have_text("Webhook Walker")
    speed = page.locator("#speed-to-lead")
    expect(speed).to_contain_text("Received")
    expect(speed).to_contain_text("First response")
    expect(page.locator(".message-row").first).to_be_visible()  # the instant SMS/email
    owner_name = page.locator("#lead-agent").inner_text()

    # Whoever it went to (or the managers, when no agent was on shift) hears about it.
    if owner_name == "Unassigned":
        person = manager
    else:
        person = next(a for a in app.accounts if a.email == _email_of(app, owner_name))
        page.context.clear_cookies()
        sign_in(page, app, person)
    page.goto(app.url + "/leads")
    expect(page.locator("#unread-count")).to_be_visible()
    page.locator("#notifications").click()
    expect(page.locator(".notification").first).to_contain_text(
        re.compile("Webhook Walker|waiting for an agent")
    )
    expect(page.locator("#unread-count")).to_have_count(0)  # opening marks them read


def test_agent_claims_from_the_pool(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("agent"))
    claim = page.locator(".claim-lead")
    expect(claim.first).to_be_visible()
    before = claim.count()
    claim.first.click()
    expect(page.get_by_text("The lead is yours.")).to_be_visible()
    expect(claim).to_have_count(before - 1)


def test_manager_imports_and_exports_csv(app: DemoApp, page: Page, tmp_path: Path) -> None:
    sign_in(page, app, app.account("manager"))
    upload = tmp_path / "leads.csv"
    upload.write_text(
        "First Name,Last Name,Email,Phone\n"
        "Csv,Created,csv.created@example.com,512-555-0166\n"
        "No,Contact,,\n"
        "Csv,Again,CSV.CREATED@example.com,\n"
    )
    page.locator("#import-csv").locator("xpath=..").locator("input[type=file]").set_input_files(
        upload
    )
    counts = page.locator("#import-counts")
    expect(counts).to_contain_text("Created: 1")
    expect(counts).to_contain_text("Merged: 1")
    expect(counts).to_contain_text("Rejected: 1")
    page.locator("#close-import").click()
    expect(counts).to_have_count(0)

    page.locator("#lead-search").fill("csv.created")
    expect(page.locator(".lead-row")).to_have_count(1)
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["email"] for r in rows] == ["csv.created@example.com"]
