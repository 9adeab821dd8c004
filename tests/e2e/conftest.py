import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.server import ReflexServer, app_env, run_cli

# Lets tests post signed inbound texts to the Twilio webhook (demo mode keeps sends sandboxed).
TWILIO_AUTH_TOKEN = "e2e-twilio-auth-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    role: str
    tenant: str


@dataclass(frozen=True)
class DemoApp:
    server: ReflexServer
    accounts: list[Account]  # as `recovery seed-demo` printed them
    env: dict[str, str]  # to run `recovery` commands against the same database

    @property
    def url(self) -> str:
        return self.server.url

    def account(self, role: str, tenant: str = "harborview-austin", index: int = 0) -> Account:
        return [a for a in self.accounts if a.role == role and a.tenant == tenant][index]


CREDENTIAL = re.compile(r"^\s+(\S+@\S+)\s+(\S+)\s+(agent|manager)\s+(\S+)$", re.MULTILINE)


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[DemoApp]:
    """The real app (`reflex run`) on free ports, over a seeded SQLite file, in demo mode."""
    tmp = tmp_path_factory.mktemp("e2e")
    env = app_env(f"sqlite:///{tmp / 'e2e.db'}", DEMO_MODE="1", TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN)
    run_cli(env, "migrate")
    printed = run_cli(env, "seed-demo", "--leads", "300", "--seed", "1")
    rows = CREDENTIAL.findall(printed)
    server = ReflexServer(env, tmp / "reflex.log")
    try:
        server.wait_ready(path="/login")
        yield DemoApp(server=server, accounts=[Account(*row) for row in rows], env=env)
    finally:
        server.stop()


def sign_in(page: Page, app: DemoApp, account: Account, path: str = "/leads") -> None:
    """Sign in through the real form from `path` and wait for the page behind it."""
    page.goto(app.url + path)
    expect(page).to_have_url(re.compile(r"/login\?"))
    page.locator("#login-email").fill(account.email)
    page.locator("#login-password").fill(account.password)
    page.locator("#login-submit").click()
    expect(page.locator("#user-name")).to_have_text(re.compile(r"\S"))
