"""The inbox in a real browser: an agent's conversations, waiting ones first and counted in
the sidebar; "only waiting" narrows the list; a thread opens its lead."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e


def test_agent_inbox(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("agent"), path="/inbox")
    rows = page.locator(".thread-row")
    expect(rows.first).to_be_visible()
    total = int(page.locator("#thread-total").inner_text().split()[0])
    assert total >= rows.count() > 0

    badge = page.locator("#inbox-count")
    waiting = int(badge.inner_text()) if badge.count() else 0
    page.locator("#only-waiting").click()
    expect(page.locator("#thread-total")).to_have_text(f"{waiting} conversations")
    if waiting:
        expect(rows.first).to_contain_text("waiting")
    page.locator("#only-waiting").click()
    expect(page.locator("#thread-total")).to_have_text(f"{total} conversations")

    rows.first.click()
    expect(page).to_have_url(re.compile(r"/leads/\d+$"))
    expect(page.locator("#lead-title")).to_have_text(re.compile(r"\S"))
