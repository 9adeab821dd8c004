"""Settings -> Behavioral triggers in a real browser: a demo office starts with the starter
rules; a manager switches one off, adds a rule (the form shows the action's own fields) and
deletes it again."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e


def test_manager_edits_behavioral_triggers(app: DemoApp, page: Page) -> None:
    manager = app.account("manager", tenant="harborview-denver")
    sign_in(page, app, manager, path="/settings")
    page.get_by_role("link", name=re.compile("Behavioral triggers")).click()
    expect(page).to_have_url(re.compile(r"/settings/triggers$"))

    rows = page.locator(".rule-row")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="Opened 2+ emails in 24 h")).to_contain_text(
        "Opens 2+ email(s) within 24 h -> raise the score by 10"
    )
    switch = rows.filter(has_text="Clicked a link").get_by_role("switch")
    switch.click()
    expect(switch).to_have_attribute("data-state", "unchecked")
    page.reload()
    expect(
        page.locator(".rule-row").filter(has_text="Clicked a link").get_by_role("switch")
    ).to_have_attribute("data-state", "unchecked")

    page.locator("#rule-name").fill("Came back twice")
    page.locator("#rule-event").click()
    page.get_by_role("option", name="Sends a form again").click()
    page.locator("input[name='threshold']").fill("2")
    page.locator("input[name='window_hours']").fill("72")
    page.locator("#rule-action").click()
    page.get_by_role("option", name="Alert the agent").click()
    page.get_by_role("checkbox", name="SMS").click()
    page.locator("#rule-submit").click()
    expect(page.get_by_text("Rule added.")).to_be_visible()
    added = page.locator(".rule-row").filter(has_text="Came back twice")
    expect(added).to_contain_text(
        "Sends a form again 2+ time(s) within 72 h -> alert the agent (in app, sms)"
    )

    added.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Rule deleted.")).to_be_visible()
    expect(page.locator(".rule-row").filter(has_text="Came back twice")).to_have_count(0)
