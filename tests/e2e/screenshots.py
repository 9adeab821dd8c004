"""Screenshots of every page at desktop (1280 px) and phone (390 px) width, for the README.

    .venv/bin/python -m tests.e2e.screenshots        # or: make screenshots

Runs the real app over a freshly seeded demo database (as the browser tests do), signs in as a
manager and saves docs/screenshots/<page>-<desktop|phone>.png.
"""

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM_ARGS, CREDENTIAL, chromium_path
from tests.e2e.server import ReflexServer, app_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
# (file name, path, what to wait for before the picture)
PAGES = (
    ("dashboard", "/dashboard", "#funnel"),
    ("leads", "/leads", ".lead-row"),
    ("silent-leads", "/silent", ".silent-row"),
    ("scoring", "/scoring", "#heatmap .main-svg, #heatmap svg"),
    ("inbox", "/inbox", "#thread-total"),
    ("approvals", "/approvals", "#approve-all, #queue-empty"),
    ("triggers", "/settings/triggers", "#rule-name"),
    ("office", "/settings/office", "#office-save"),
    ("roi", "/roi?model=linear", "#trend-chart .main-svg, #trend-chart svg"),
    ("campaigns", "/campaigns", ".campaign-row"),
    ("campaign-wizard", "/campaigns/new", "#audience-sample"),
)


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/login")
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()
    expect(page.locator("#user-name")).to_have_text(re.compile(r"\S"))


def _settle(page: Page, selector: str) -> None:
    page.locator(selector).first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(800)  # let charts and fonts finish drawing


def _wizard_stages(page: Page, url: str, size: str) -> None:
    """The wizard past its first stage: a draft's messages (live preview, segment counter)
    and its review (projected sends, compliance, cost)."""
    page.goto(url + "/campaigns/new")
    _settle(page, "#audience-sample")
    page.locator("#campaign-name").fill(f"Screenshot win-back ({size})")
    page.locator("#wizard-next").click()
    _settle(page, ".step-card")
    page.locator("#add-email").click()
    page.locator("#wizard-next").click()
    _settle(page, "#step-0-preview")
    page.screenshot(path=OUT / f"campaign-messages-{size}.png")
    print(f"  campaign-messages-{size}.png")
    page.locator("#wizard-next").click()
    _settle(page, "#window-optimize")
    page.locator("#wizard-next").click()
    _settle(page, "#cost-total")
    page.screenshot(path=OUT / f"campaign-review-{size}.png")
    print(f"  campaign-review-{size}.png")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = app_env(f"sqlite:///{tmp}/shots.db", DEMO_MODE="1")
        run_cli(env, "migrate")
        printed = run_cli(env, "seed-demo", "--leads", "300", "--seed", "1")
        manager = next(row for row in CREDENTIAL.findall(printed) if row[2] == "manager")
        server = ReflexServer(env, Path(tmp) / "reflex.log")
        try:
            server.wait_ready(path="/login")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_ARGS
                )
                for size, (width, height) in SIZES.items():
                    context = browser.new_context(viewport={"width": width, "height": height})
                    page = context.new_page()
                    _sign_in(page, server.url, manager[0], manager[1])
                    for name, path, ready in PAGES:
                        page.goto(server.url + path)
                        _settle(page, ready)
                        page.screenshot(path=OUT / f"{name}-{size}.png")
                        print(f"  {name}-{size}.png")
                    page.goto(server.url + "/silent")
                    _settle(page, ".silent-row")
                    page.locator(".silent-row .lead-name").first.click()
                    _settle(page, "#compose-body")
                    page.screenshot(path=OUT / f"lead-detail-{size}.png")
                    print(f"  lead-detail-{size}.png")
                    _wizard_stages(page, server.url, size)
                    context.close()
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
