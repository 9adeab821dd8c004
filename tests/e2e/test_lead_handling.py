"""Settings -> Lead handling in a real browser: a manager switches routing to first-to-claim,
writes a first-response text for open-house leads with a live preview, and changes a scoring
weight. Uses the Denver office so the Austin office's routing stays as other tests expect."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e


def test_manager_configures_lead_handling(app: DemoApp, page: Page) -> None:
    manager = app.account("manager", tenant="harborview-denver")
    sign_in(page, app, manager, path="/settings")
    page.get_by_role("link", name=re.compile("Lead handling")).click()
    expect(page).to_have_url(re.compile(r"/settings/lead-handling$"))

    # Routing: first to claim, with a 10-minute window.
    page.locator("#mode-first-to-claim").click()
    page.locator("#claim-window").fill("10")
    page.locator("#save-routing").click()
    expect(page.get_by_text("Lead routing saved.")).to_be_visible()
    page.reload()
    expect(page.locator("#claim-window")).to_have_value("10")
    expect(page.locator("#mode-first-to-claim")).to_have_attribute("data-state", "checked")

    # First response for open-house leads: starts from the library, previews as you type.
    page.locator("#template-source").click()
    page.get_by_role("option", name="open house").click()
    expect(page.locator("#template-origin")).to_contain_text("built-in template library")
    body = page.locator("#template-body")
    body.fill("Hi {{first_name}}, thanks for coming to {{open_house_address}} today!")
    expect(page.locator("#template-preview")).to_have_text(
        "Hi Alexandria, thanks for coming to 1234 Mockingbird Lane today!"
    )
    expect(page.locator("#template-segments")).to_contain_text("1 SMS segment")
    page.locator("#save-template").click()
    expect(page.get_by_text("First-response template saved.")).to_be_visible()
    expect(page.locator("#template-origin")).to_contain_text("own template")

    # A mistyped variable is refused next to the field, not sent as "{{frist_name}}".
    body.fill("Hi {{frist_name}}!")
    page.locator("#save-template").click()
    expect(page.locator(".field-error")).to_contain_text("{{frist_name}}")

    # Scoring: take source quality out of the score; every open lead is rescored.
    weight = page.locator("input[name='w_source']")
    expect(weight).to_have_value("25")
    weight.fill("0")
    page.locator("#save-weights").click()
    # Saving rescores every open lead of the office: seconds on a busy CI machine.
    expect(
        page.get_by_text(re.compile(r"Weights saved; \d+ open lead scores changed"))
    ).to_be_visible(timeout=20_000)
    page.reload()
    expect(page.locator("input[name='w_source']")).to_have_value("0")
    page.locator("#reset-weights").click()
    expect(page.get_by_text(re.compile("Default weights restored"))).to_be_visible(timeout=20_000)
    expect(page.locator("input[name='w_source']")).to_have_value("25")
