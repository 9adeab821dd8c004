"""The Scoring page in a real browser: switch the heatmap's axis, drill from a cell into the
Leads page filtered to exactly those leads, and take a lead from the call list."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in
from tests.e2e.server import run_python

pytestmark = pytest.mark.e2e


def test_heatmap_cell_drills_into_the_leads(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager"), path="/scoring")
    expect(page.locator("#heatmap")).to_be_visible()
    expect(page.locator("#best-window")).to_have_text(re.compile(r"\S"))
    expect(page.locator(".call-row").first).to_be_visible()

    page.locator("#heat-axis").get_by_role("radio", name="Temperature").click()
    expect(page.locator("#heat-table thead")).to_contain_text("hot")
    cell = page.locator(".heat-cell").first
    expect(cell).to_be_visible()
    count = int(cell.inner_text())
    label = cell.get_attribute("aria-label") or ""
    temperature = label.split(",")[0]
    low, high = re.search(r"score (\d+)-(\d+)", label).groups()  # type: ignore[union-attr]
    cell.click()

    expect(page).to_have_url(re.compile(r"/leads\?"))
    expect(page.locator("#range-filter")).to_have_text(f"Open leads, score {low}-{high}")
    expect(page.locator("#lead-range")).to_have_text(
        re.compile(rf"^1-{min(count, 25)} of {count}$")
    )
    scores = [int(s) for s in page.locator(".lead-row td:nth-child(6)").all_inner_texts()]
    assert scores and all(int(low) <= s <= int(high) for s in scores)
    assert set(page.locator(".lead-row td:nth-child(5)").all_inner_texts()) == {temperature}
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#range-filter")).to_have_count(0)


# An unassigned hot lead that wrote a minute ago: the top of every call list in the office.
HOT_POOL_LEAD = """
from datetime import UTC, datetime, timedelta
from sqlalchemy import select
from recovery_app.db import session_scope
from recovery_app.models import Lead, Tenant

with session_scope() as s:
    tenant = s.execute(select(Tenant).where(Tenant.location_id == "harborview-austin")).scalar_one()
    now = datetime.now(UTC)
    taken = set(s.execute(select(Lead.phone).where(Lead.tenant_id == tenant.id)).scalars())
    phone = next(p for n in range(9999) if (p := f"+1737555{n:04d}") not in taken)
    s.add(Lead(tenant_id=tenant.id, first_name="Callme", last_name="Now", phone=phone,
               score=97, temperature="hot", status="engaged", created_at=now - timedelta(hours=1),
               last_inbound_at=now - timedelta(minutes=1), last_activity_at=now, updated_at=now))
"""


def test_agent_takes_a_lead_from_the_call_list(app: DemoApp, page: Page) -> None:
    run_python(app.env, HOT_POOL_LEAD)
    sign_in(page, app, app.account("agent", index=1), path="/scoring")
    top = page.locator(".call-row").first
    expect(top).to_contain_text("Callme Now")
    top.locator(".take-lead").click()
    expect(page.get_by_text("The lead is yours: call now.")).to_be_visible()
    # Now theirs: the row offers the call instead.
    expect(page.locator(".call-row").first.get_by_role("button", name="Call")).to_be_visible()
