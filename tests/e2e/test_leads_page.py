"""The Leads page in a real browser against a real server with demo data."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e


def _names(page: Page) -> list[str]:
    return page.locator(".lead-row .lead-name").all_inner_texts()


def test_leads_page_pages_and_filters(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager"), path="/")
    expect(page).to_have_url(re.compile(r"/dashboard$"))  # the landing page
    page.get_by_role("link", name="Leads", exact=True).click()
    expect(page).to_have_url(re.compile(r"/leads$"))
    rows = page.locator(".lead-row")
    expect(rows).to_have_count(25)
    expect(page.locator("#lead-range")).to_have_text(re.compile(r"^1-25 of \d+$"))
    total = int(page.locator("#lead-range").inner_text().split(" of ")[1].replace(",", ""))
    pages = -(-total // 25)
    expect(page.locator("#page-label")).to_have_text(f"Page 1 of {pages}")
    first_page = _names(page)

    page.locator("#page-next").click()
    expect(page.locator("#page-label")).to_have_text(f"Page 2 of {pages}")
    expect(page.locator("#lead-range")).to_have_text(f"26-50 of {total}")
    assert set(_names(page)).isdisjoint(first_page) or _names(page) != first_page

    page.locator("#filter-temperature").click()
    page.get_by_role("option", name="Hot").click()
    expect(page.locator("#page-label")).to_have_text(re.compile(r"^Page 1 of \d+$"))
    badges = page.locator(".lead-row td:nth-child(5)")
    expect(badges.first).to_have_text("hot")
    assert set(badges.all_inner_texts()) == {"hot"}
    hot_total = int(page.locator("#lead-range").inner_text().split(" of ")[1].replace(",", ""))
    assert 0 < hot_total < total


def test_search_and_clear(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager"))
    expect(page.locator(".lead-row")).to_have_count(25)
    name = _names(page)[0]
    page.locator("#lead-search").fill(name)
    # The search runs on the server after a 300 ms debounce; wait for the narrowed table.
    page.wait_for_function("document.querySelectorAll('.lead-row').length < 25")
    assert _names(page) and all(n == name for n in _names(page))
    expect(page.locator("#lead-range")).to_have_text(re.compile(r"^1-\d+ of \d+$"))
    page.get_by_role("button", name="Clear").click()
    expect(page.locator(".lead-row")).to_have_count(25)
    expect(page.locator("#lead-search")).to_have_value("")
