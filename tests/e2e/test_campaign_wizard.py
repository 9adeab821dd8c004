"""The campaign wizard in a real browser: a manager builds a campaign through every stage, is
stopped by a field error on the way, launches it and finds its enrollments in the list; the
pages fit a phone's width."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e

NAME = "E2E engaged follow-up"
# Page loads and saves wait on the server (a first visit also compiles the page in dev mode).
SLOW = 30_000


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


def test_a_manager_builds_validates_and_launches_a_campaign(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager"), path="/campaigns")
    expect(page.locator(".campaign-row").first).to_be_visible(timeout=SLOW)
    page.locator("#new-campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/new$"), timeout=SLOW)

    # 1. Goal and audience: the count follows the rule; "Next" without a name is refused.
    expect(page.locator("#audience-count")).to_have_text(re.compile(r"^\d+$"), timeout=SLOW)
    page.locator("#rule-status-silent").click()  # off
    page.locator("#rule-status-engaged").click()  # on
    expect(page.locator("#rule-status-engaged")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#audience-sample .sample-row").first).to_be_visible()
    assert page.locator("#audience-sample .sample-row").count() <= 5
    matching = _number(page.locator("#audience-count").inner_text())
    assert matching > 0
    page.locator("#wizard-next").click()
    expect(page.locator(".field-error").first).to_have_text("name the campaign")
    expect(page.locator("#wizard-stage-title")).to_have_text("Goal and audience")
    page.locator("#campaign-name").fill(NAME)
    page.locator("#wizard-next").click()

    # 2. Steps: the first text is there from the library; add an email two days later.
    expect(page.locator("#wizard-stage-title")).to_have_text("Channels and steps", timeout=SLOW)
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))  # the draft is saved
    expect(page.locator(".step-card")).to_have_count(1)
    page.locator("#add-email").click()
    expect(page.locator(".step-card")).to_have_count(2)
    page.locator("#wizard-next").click()

    # 3. Messages: a live preview for a real lead, the segment counter, the opt-out check.
    expect(page.locator("#wizard-stage-title")).to_have_text("Messages")
    expect(page.locator("#step-0-preview")).not_to_contain_text("{{")
    expect(page.locator("#step-0-segments")).to_have_text(re.compile(r"^(GSM-7|UCS-2) - \d+"))
    expect(page.locator("#step-0-optout")).to_contain_text("Opt-out wording")
    # No ANTHROPIC_API_KEY here: "Draft with AI" keeps the text and says why.
    page.locator("#step-0-ai").click()
    expect(page.locator("#step-0-note")).to_have_text(
        "Template kept: AI drafting is off (no ANTHROPIC_API_KEY is set)."
    )
    page.locator("#step-1-subject").fill("")
    page.locator("#wizard-next").click()
    expect(page.locator(".message-card").nth(1).locator(".field-error")).to_have_text(
        "an email needs a subject"
    )
    expect(page.locator("#wizard-stage-title")).to_have_text("Messages")
    page.locator("#step-1-subject").fill("A few new options, {{first_name}}")
    expect(page.locator("#step-1-preview")).not_to_contain_text("{{first_name}}")
    page.locator("#wizard-next").click()

    # 4. Timing, then back and forward: what was typed stays.
    expect(page.locator("#wizard-stage-title")).to_have_text("Timing")
    page.locator("#day-6").click()
    page.locator("#window-optimize").click()
    expect(page.locator("#window-optimize")).to_have_attribute("aria-checked", "true")
    page.locator("#wizard-back").click()
    expect(page.locator("#step-1-subject")).to_have_value("A few new options, {{first_name}}")
    page.locator("#wizard-next").click()
    expect(page.locator("#day-6")).to_have_attribute("aria-pressed", "true")
    page.locator("#wizard-next").click()

    # 5. Review: summary, sends per day, compliance, cost; launch.
    expect(page.locator("#wizard-stage-title")).to_have_text("Review", timeout=SLOW)
    expect(page.locator("#review-summary")).to_contain_text(NAME)
    expect(page.locator("#review-plan .plan-row").first).to_be_visible()
    expect(page.locator("#review-findings .finding").first).to_be_visible()
    expect(page.locator("#cost-total")).to_have_text(re.compile(r"^\$[\d,.]+$"))
    page.locator("#wizard-launch").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("leads are enrolled now")
    enrolling = _number(re.search(r"(\d[\d,]*) leads", dialog.inner_text()).group(1))  # type: ignore[union-attr]
    assert 0 < enrolling <= matching
    page.locator("#launch-confirm").click()

    expect(page).to_have_url(re.compile(r"/campaigns$"), timeout=SLOW)
    expect(page.get_by_text(re.compile(f"launched: {enrolling:,} leads? enrolled"))).to_be_visible()
    row = page.locator(".campaign-row", has_text=NAME)
    expect(row.locator(".campaign-status")).to_have_text("active")
    expect(row.locator(".enrolled")).to_have_text(f"{enrolling:,}")

    # Pause and resume from the row's menu.
    row.locator(".campaign-actions").click()
    page.locator(".action-pause").click()
    expect(row.locator(".campaign-status")).to_have_text("paused")
    expect(page.get_by_text("Paused: no further steps go out until you resume.")).to_be_visible()
    # The menu closes with an animation; a click on its trigger before that ends is swallowed.
    expect(page.get_by_role("menu")).to_have_count(0)
    page.wait_for_timeout(500)
    row.locator(".campaign-actions").click()
    page.locator(".action-resume").click()
    expect(row.locator(".campaign-status")).to_have_text("active")


@pytest.mark.parametrize("path", ["/campaigns", "/campaigns/new"])
def test_the_campaign_pages_fit_a_phone(app: DemoApp, browser, path: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        sign_in(page, app, app.account("manager"), path=path)
        ready = "#campaign-table" if path == "/campaigns" else "#audience-count"
        expect(page.locator(ready)).to_be_visible(timeout=SLOW)
        page.wait_for_timeout(300)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
    finally:
        context.close()
