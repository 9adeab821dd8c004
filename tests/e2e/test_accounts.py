"""Sign-in, sign-out, roles and the demo entry in a real browser."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DemoApp, sign_in

pytestmark = pytest.mark.e2e


def test_unauthenticated_visit_goes_to_sign_in_and_back(app: DemoApp, page: Page) -> None:
    page.goto(app.url + "/settings/team")
    expect(page).to_have_url(re.compile(r"/login\?error=sign_in&next=%2Fsettings%2Fteam$"))
    expect(page.locator("#login-message")).to_have_text("Please sign in to continue.")
    manager = app.account("manager")
    page.locator("#login-email").fill(manager.email)
    page.locator("#login-password").fill(manager.password)
    page.locator("#login-submit").click()
    expect(page).to_have_url(re.compile(r"/settings/team$"))
    expect(page.locator(".member-row").first).to_be_visible()
    # The session token is an HttpOnly cookie: page JavaScript cannot read it.
    assert "recovery_session" not in page.evaluate("document.cookie")
    page.reload()
    expect(page.locator(".member-row").first).to_be_visible()


def test_a_sign_in_sent_before_the_page_state_arrives_still_goes_back(
    app: DemoApp, page: Page
) -> None:
    """The hidden `next` field is filled from the page's state; hold the websocket so the
    state never arrives, as on a slow link or a busy server, and submit anyway. In
    development the form posts to the backend's own port, so the Referer carries no query."""
    held: list[object] = []
    page.route_web_socket(re.compile(r"/_event"), lambda ws: held.append(ws))
    page.goto(app.url + "/login?error=sign_in&next=%2Froi")
    manager = app.account("manager")
    page.locator("#login-email").fill(manager.email)
    page.locator("#login-password").fill(manager.password)
    assert page.locator('input[name="next"]').input_value() == ""  # no state yet
    page.locator("#login-submit").click()
    expect(page).to_have_url(re.compile(r"/roi$"))
    assert held, "the page's websocket was never opened, so nothing was held"


def test_wrong_password_says_so_without_saying_more(app: DemoApp, page: Page) -> None:
    page.goto(app.url + "/login")
    for email in (app.account("manager").email, "nobody@harborviewrealty.example"):
        page.locator("#login-email").fill(email)
        page.locator("#login-password").fill("not the password")
        page.locator("#login-submit").click()
        expect(page.locator("#login-message")).to_have_text("Email or password is incorrect.")


def test_sign_out_ends_the_session(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("agent", index=1))
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login\?error=signed_out$"))
    expect(page.locator("#login-message")).to_have_text("You have been signed out.")
    page.goto(app.url + "/leads")
    expect(page).to_have_url(re.compile(r"/login\?"))


def test_agent_cannot_open_manager_pages(app: DemoApp, page: Page) -> None:
    agent = app.account("agent", index=2)
    sign_in(page, app, agent)
    expect(page.locator("#user-role")).to_have_text("agent")
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    for path in ("/settings/team", "/settings/api-keys", "/settings/audit", "/campaigns"):
        page.goto(app.url + path)
        expect(page).to_have_url(re.compile(r"/leads$"))
        expect(page.get_by_text(re.compile("Only managers can open"))).to_be_visible()
    # An agent sees only their own leads and the unassigned pool; pool rows offer "Claim"
    # in the agent column instead of a name.
    expect(page.locator(".lead-row").first).to_be_visible()
    agents = set(page.locator(".lead-row td:nth-child(7)").all_inner_texts())
    assert agents <= {"Unassigned", "Claim", page.locator("#user-name").inner_text()}


def test_demo_entry_gives_each_visitor_an_isolated_sandbox(app: DemoApp, browser: Browser) -> None:
    visitors = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app.url + "/login")
        page.locator("#try-demo").click()
        expect(page.locator("#demo-banner")).to_be_visible()
        expect(page.locator("#user-role")).to_have_text("manager")
        visitors.append((context, page))
    (first_ctx, first), (second_ctx, second) = visitors
    # Visitor one deactivates an agent in their sandbox; visitor two's sandbox is untouched.
    first.goto(app.url + "/settings/team")
    row = first.locator(".member-row", has_text="Marcus Reyes")
    row.get_by_role("button", name="Deactivate").click()
    expect(row.get_by_text("deactivated")).to_be_visible()
    second.goto(app.url + "/settings/team")
    other = second.locator(".member-row", has_text="Marcus Reyes")
    expect(other.get_by_role("button", name="Deactivate")).to_be_visible()
    # A visitor can look at their sandbox as one of its agents.
    second.locator("#view-as").click()
    second.get_by_role("option", name=re.compile(r"Marcus Reyes \(agent\)")).click()
    expect(second.locator("#user-role")).to_have_text("agent")
    first_ctx.close()
    second_ctx.close()


def test_markup_and_sql_in_a_form_field_stay_plain_text(app: DemoApp, page: Page) -> None:
    sign_in(page, app, app.account("manager", tenant="harborview-denver"), path="/settings/team")
    hostile = "<b>Bold</b> Robert'); DROP TABLE users;--"
    page.locator("#add-member").click()
    page.locator("#member-email").fill("robert.tables@harborviewrealty.example")
    page.locator("#member-name").fill(hostile)
    page.locator("#member-submit").click()
    expect(page.locator("#revealed-password")).to_be_visible()  # the one-time password
    page.get_by_role("button", name="Done").click()
    row = page.locator(".member-row", has_text="robert.tables@")
    expect(row).to_contain_text(hostile)
    assert row.locator("b").count() == 0  # shown as text, never as HTML
    expect(page.locator(".member-row").first).to_be_visible()  # and the users table is fine
