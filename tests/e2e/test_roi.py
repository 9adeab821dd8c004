"""The ROI page in a real browser: a deal recorded on a lead shows up in recovered revenue, the
date range and attribution model change the numbers and the URL, a table downloads as CSV
and the printable report shows the same range."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in
from tests.e2e.server import run_python

pytestmark = pytest.mark.e2e

# An open lead of the manager's office that a campaign texted in the last few days.
TEXTED_LEAD = """
import json, sys
from datetime import UTC, datetime, timedelta
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import Lead, Message, User

with session_scope() as s:
    manager = s.execute(select(User).where(User.email == sys.argv[1])).scalar_one()
    lead = s.execute(
        select(Lead).join(Message, Message.lead_id == Lead.id).where(
            Lead.tenant_id == manager.tenant_id,
            Lead.status.not_in(["converted", "lost"]),
            Message.category == "marketing",
            Message.sent_at > datetime.now(UTC) - timedelta(days=20),
        ).order_by(Lead.id).limit(1)
    ).scalar_one()
    print(json.dumps({"id": lead.id}))
"""


def deals(page: Page) -> int:
    hint = page.locator("#fig-revenue").inner_text()
    return int(re.search(r"(\d[\d,]*) of \d", hint).group(1).replace(",", ""))  # type: ignore[union-attr]


def test_a_recorded_deal_counts_and_the_range_model_and_exports_work(
    app: DemoApp, page: Page
) -> None:
    manager = app.account("manager")
    lead = json.loads(run_python(app.env, TEXTED_LEAD, manager.email).strip().splitlines()[-1])
    sign_in(page, app, manager, path="/roi")
    expect(page.locator("#period")).to_contain_text("(30 days)")
    expect(page.locator("#fig-revenue")).to_contain_text(" deals ")
    before = deals(page)

    page.goto(f"{app.url}/leads/{lead['id']}")
    expect(page.locator("#lead-title")).to_have_text(re.compile(r"\S"))
    page.locator("#deal-value").fill("12500")
    page.locator("#deal-save").click()
    expect(page.get_by_text("Converted: $12,500.00.")).to_be_visible()
    expect(page.locator("#deal-save")).to_have_count(0)

    page.goto(f"{app.url}/roi?model=last_touch")
    # The page shows the figures it had until its load answers: wait for the new count.
    expect(page.locator("#fig-revenue")).to_contain_text(f"{before + 1} of ")

    # A custom range that ends before the deal: it is gone, and the URL says which range.
    page.locator("#range-from").fill("2026-01-01")
    page.locator("#range-to").fill("2026-01-31")
    page.locator("#range-apply").click()
    expect(page.locator("#period")).to_contain_text("Jan 01, 2026 - Jan 31, 2026 (31 days)")
    expect(page).to_have_url(re.compile(r"from=2026-01-01&to=2026-01-31"))
    expect(page.locator("#fig-revenue")).to_contain_text("0 of 0 deals")

    page.locator("#range-preset").click()
    page.get_by_role("option", name="Last 90 days").click()
    expect(page.locator("#period")).to_contain_text("(90 days)")
    page.locator("#model").get_by_role("radio", name="Linear").click()
    expect(page.locator("#period")).to_contain_text("linear attribution")
    expect(page).to_have_url(re.compile(r"model=linear"))
    expect(page.locator(".campaigns-row").first).to_be_visible()

    with page.expect_download() as download:
        page.locator("#export-campaigns").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    shown = page.locator(".campaigns-row th").all_inner_texts()
    assert [r["Campaign"] for r in rows] == shown
    assert {"Deals", "Revenue", "Sent", "Cost", "ROI"} <= set(rows[0])

    href = page.locator("#report-link").get_attribute("href") or ""
    assert "model=linear" in href
    page.goto(app.url + href)
    expect(page.get_by_role("heading", name="Lead recovery report")).to_be_visible()
    expect(page.locator("#period")).to_contain_text("(90 days), linear attribution")
    expect(page.locator("#report-office")).to_have_text(re.compile(r"\S"))


def test_agents_cannot_open_roi(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("agent"), path="/roi")
    expect(page.get_by_text("Only managers can open the ROI page.")).to_be_visible()
    expect(page.locator("#fig-revenue")).to_have_count(0)
