"""The live dashboard in a real browser: a lead that arrives by webhook shows up on an open
dashboard - the count and the feed - within 3 seconds, without a reload; an agent's dashboard
has no per-agent table."""

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in
from tests.e2e.server import run_cli

pytestmark = pytest.mark.e2e


def test_a_webhook_lead_appears_live(app: DemoApp, page: Page) -> None:
    key = run_cli(
        app.env, "create-api-key", "--role", "manager", "--tenant", "harborview-austin"
    ).splitlines()[-1]
    sign_in(page, app, app.account("manager"), path="/dashboard")
    new_today = page.locator("#new-today .figure-value")
    expect(new_today).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#funnel")).to_be_visible()
    expect(page.locator(".agent-row").first).to_be_visible()
    before = int(new_today.inner_text())

    answer = httpx.post(
        f"{app.server.api_url}/api/v1/webhooks/leads",
        json={
            "first_name": "Dasha",
            "last_name": "Live",
            "email": "dasha.live@example.com",
            "phone": "+15125550188",
            "source": "web_form",
            "consent": {"sms": True, "email": True},
        },
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "e2e-dashboard-1"},
        timeout=30,
    )
    posted = time.monotonic()
    assert answer.status_code == 201, answer.text

    expect(new_today).to_have_text(str(before + 1), timeout=3_000)
    expect(page.locator("#feed")).to_contain_text("Dasha Live", timeout=3_000)
    assert time.monotonic() - posted < 3.5  # the page never reloaded: the same locator updated


def test_an_agent_sees_their_own_dashboard(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("agent"), path="/dashboard")
    expect(page.locator("#new-today")).to_be_visible()
    expect(page.locator(".agent-row")).to_have_count(0)
