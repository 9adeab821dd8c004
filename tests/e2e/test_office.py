"""Settings -> Office in a real browser: a wrong value is named and nothing is saved; a fixed
one saves and stays after a reload; the integrations list the webhook addresses to paste."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e


def test_manager_edits_the_office_profile(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager", tenant="harborview-denver"), path="/settings")
    page.get_by_role("link", name=re.compile("^Office")).click()
    expect(page).to_have_url(re.compile(r"/settings/office$"))
    expect(page.locator("#office-timezone")).to_have_value(re.compile(r"^America/"))

    page.locator("#office-timezone").fill("Mars/Olympus")
    page.locator("#office-sender_phone").fill("(303) 555-0142")
    page.locator("#office-save").click()
    expect(page.locator("#office-problems")).to_contain_text("timezone")
    page.reload()
    expect(page.locator("#office-timezone")).not_to_have_value("Mars/Olympus")

    page.locator("#office-timezone").fill("America/Denver")
    page.locator("#office-sender_phone").fill("(303) 555-0142")
    page.locator("#office-silence_hot").fill("6")
    page.locator("#office-save").click()
    expect(page.get_by_text("Office settings saved.")).to_be_visible()
    page.reload()
    expect(page.locator("#office-sender_phone")).to_have_value("+13035550142")
    expect(page.locator("#office-silence_hot")).to_have_value("6")

    twilio = page.locator("#integration-twilio")
    expect(twilio.locator(".webhook-url").first).to_have_text(
        re.compile(r"/api/v1/webhooks/twilio/sms$")
    )
    expect(page.locator("#integration-sendgrid .webhook-url")).to_have_text(
        re.compile(r"/api/v1/webhooks/sendgrid/events$")
    )
