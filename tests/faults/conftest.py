"""Fault-injection fixtures: the production server (`reflex run --env prod --backend-only`, as
deploy/serve.sh starts it) on a PostgreSQL schema of its own, with TCP proxies we control
between it and PostgreSQL or Redis, and Twilio and SendGrid played by local servers.

Everything is per test: schema, ports, proxies, fake providers, sender number (the Redis
pacing key) and the Redis database the faults use (not the one other tests count rate limits
in), so the tests are safe under `pytest -n 2`. Only loopback addresses are ever dialled.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from recovery_app.models import Role, Tenant, User
from tests.conftest import _POSTGRES, _REDIS, FreshDatabase, migrate, with_search_path
from tests.e2e.server import BIN, ROOT, ReflexServer, app_env, free_port
from tests.fakes.providers import FakeSendGrid, FakeTwilio
from tests.faults.proxy import FaultProxy
from tests.faults.senders import Callers, Delivery, Post, lost

# The fault tests' own Redis database: they count thousands of posts against tenant ids that
# other tests' schemas reuse (db 15 is the suite's, 13 and 14 the benchmarks').
FAULTS_REDIS_DB = 12
LEAD_SECRET = "faults-lead-webhook-secret"
WORKERS = "2"  # Granian workers: several dispatchers and schedulers share the outbox and lease

needs_services = pytest.mark.skipif(
    _POSTGRES is None or _REDIS is None,
    reason="fault tests need PostgreSQL and Redis (CI has both)",
)


def redis_url() -> str:
    """The suite's Redis server, in the fault tests' own database."""
    assert _REDIS is not None
    return urlsplit(_REDIS)._replace(path=f"/{FAULTS_REDIS_DB}").geturl()


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def via_proxy(url: str, proxy: FaultProxy) -> str:
    """`url` with its host and port replaced by the proxy's (credentials kept)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@" if credentials else ""
    return parts._replace(netloc=f"{netloc}{proxy.host}:{proxy.port}").geturl()


@dataclass
class Office:
    """A migrated schema with one office and its agents; `engine` is a direct connection (not
    through any proxy) for set-up and for the assertions."""

    database: FreshDatabase
    location_id: str
    sender: str

    @property
    def engine(self) -> Engine:
        return self.database.engine

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()

    def rows(self, sql: str, **params: object) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def url_through(self, proxy: FaultProxy) -> str:
        assert self.database.schema is not None and _POSTGRES is not None
        return with_search_path(via_proxy(_POSTGRES, proxy), self.database.schema)


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    database = FreshDatabase("postgresql", tmp_path)
    migrate(database.engine)
    # A number of this test's own: Redis paces texts per sender number across processes.
    sender = f"+1512555{random.randrange(10_000):04d}"
    location = f"faults-{database.schema}"
    all_day = {d: ["00:00", "23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with Session(database.engine) as session:
        tenant = Tenant(
            name="Fault Realty",
            location_id=location,
            timezone="America/Chicago",
            sender_phone=sender,
            sender_email="hello@faults.example",
            postal_address="100 Congress Ave, Austin, TX 78701",
        )
        session.add(tenant)
        session.flush()
        for n in range(3):
            session.add(
                User(
                    tenant_id=tenant.id,
                    email=f"agent{n}@faults.example",
                    full_name=f"Fault Agent {n}",
                    role=Role.AGENT,
                    capacity=1_000_000,
                    working_hours=all_day,
                    timezone="UTC",
                )
            )
        session.commit()
    yield Office(database, location, sender)
    database.drop()


@dataclass
class Providers:
    twilio: FakeTwilio
    sendgrid: FakeSendGrid

    def env(self) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "faults-twilio-token",
            "TWILIO_API_BASE_URL": self.twilio.url,
            "SENDGRID_API_KEY": "SG.faults",
            "SENDGRID_FROM_EMAIL": "hello@faults.example",
            "SENDGRID_API_BASE_URL": self.sendgrid.url,
        }


@contextlib.contextmanager
def fake_providers(twilio: FakeTwilio | None = None) -> Iterator[Providers]:
    providers = Providers(twilio or FakeTwilio(), FakeSendGrid())
    try:
        yield providers
    finally:
        providers.twilio.close()
        providers.sendgrid.close()


@pytest.fixture
def callers(office: Office) -> Callers:
    return Callers(location_id=office.location_id, lead_secret=LEAD_SECRET)


@contextlib.contextmanager
def proxy_to(url: str, default_port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(*host_port(url, default_port))
    try:
        yield proxy
    finally:
        proxy.close()


class ProductionServer(ReflexServer):
    """`reflex run --env prod --backend-only` on a free loopback port, in its own process
    group (Reflex's workers are its children), killed with os.killpg by `stop()` (the
    browser tests' server's, as is `log()`)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        command = [
            str(BIN / "reflex"),
            "run",
            "--env",
            "prod",
            "--backend-only",
            "--backend-host",
            "127.0.0.1",
            "--backend-port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the production server exited:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if self.health().status_code == 200:
                    return
            time.sleep(0.5)
        pytest.fail(f"the production server was not healthy after {timeout} s:\n{self.log()}")

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1/health", timeout=10)


@contextlib.contextmanager
def production_server(
    tmp_path: Path,
    office: Office,
    *,
    database_url: str,
    redis: str,
    providers: Providers,
    callers: Callers,
    **extra: str,
) -> Iterator[ProductionServer]:
    env = app_env(
        database_url,
        REDIS_URL=redis,
        GRANIAN_WORKERS=WORKERS,
        SECRET_KEY="faults-secret-key-for-sessions-and-unsubscribe-links",
        LEAD_WEBHOOK_SECRET=callers.lead_secret,
        GHL_WEBHOOK_PUBLIC_KEY=callers.ghl_public_key(),
        APP_BASE_URL="https://leads.example.com",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        DEMO_MODE="0",
        LOG_LEVEL="WARNING",
        # Counted in Redis (when it answers) but never reached: the faults, not the limit,
        # are under test.
        INTAKE_RATE_PER_MINUTE="100000000",
        TWILIO_FROM_NUMBER=office.sender,
        **providers.env(),
    )
    env.update(extra)
    server = ProductionServer(env, tmp_path / "server.log")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, every: float = 1.0
) -> float:
    """Poll `condition` until true; the seconds it took. Fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(every)
    return time.monotonic() - started


def settled(office: Office, *, leads: int) -> Callable[[], bool]:
    """All leads in, every webhook event handled, both first responses of every lead out of
    the outbox (sent, or blocked by the guard) - nothing queued or mid-send."""

    def check() -> bool:
        counts = office.rows(
            "SELECT (SELECT count(*) FROM leads),"
            " (SELECT count(*) FROM webhook_events WHERE handled_at IS NULL),"
            " (SELECT count(*) FROM messages WHERE direction = 'outbound'"
            "   AND idempotency_key LIKE 'first-response:%'"
            "   AND status NOT IN ('queued', 'sending'))"
        )[0]
        return counts[0] >= leads and counts[1] == 0 and counts[2] >= 2 * leads

    return check


def answers_by_caller(deliveries: list[Delivery]) -> dict[str, Counter[int]]:
    """Every HTTP status each caller was answered, retries included (0: no answer)."""
    return {
        caller: Counter(a for d in deliveries if d.post.caller == caller for a in d.answers)
        for caller in ("ghl", "form")
    }


def assert_no_lead_lost(deliveries: list[Delivery]) -> None:
    missing = lost(deliveries)
    assert not missing, (
        f"{len(missing)} leads lost; answers {answers_by_caller(deliveries)}; "
        f"e.g. {[d.answers for d in missing[:5]]}"
    )


def assert_each_once(office: Office, posts: list[Post], providers: Providers) -> None:
    """Every person once with one submission (a retried post was not counted again), every
    webhook event handled without error, and both first responses of every lead once: form
    leads one text at Twilio and one email at SendGrid each, under the sid we recorded;
    GoHighLevel contacts carry no consent, so the guard blocked both of theirs, once."""
    people = office.rows("SELECT email, submissions FROM leads")
    assert Counter(email for email, _ in people) == Counter(p.email for p in posts)
    assert {submissions for _, submissions in people} == {1}
    assert office.scalar("SELECT count(*) FROM webhook_events") == len(posts)
    assert office.scalar("SELECT count(*) FROM webhook_events WHERE error IS NOT NULL") == 0

    form = [p for p in posts if p.caller == "form"]
    ghl = len(posts) - len(form)
    statuses = Counter(
        (source == "ghl", channel, status)
        for source, channel, status in office.rows(
            "SELECT l.source, m.channel, m.status FROM messages m JOIN leads l ON l.id = m.lead_id"
            " WHERE m.idempotency_key LIKE 'first-response:%'"
        )
    )
    expected = {
        (False, "sms", "sent"): len(form),
        (False, "email", "sent"): len(form),
        (True, "sms", "suppressed"): ghl,
        (True, "email", "suppressed"): ghl,
    }
    assert statuses == {k: n for k, n in expected.items() if n}, statuses
    texts = Counter(m["To"] for m in providers.twilio.messages)
    emails = Counter(
        p["to"][0]["email"] for m in providers.sendgrid.mails for p in m["personalizations"]
    )
    twice = {k: n for k, n in (texts + emails).items() if n > 1}
    assert not twice, f"sent more than once: {twice}"
    assert texts == Counter(p.phone for p in form), "a number never texted"
    assert emails == Counter(p.email for p in form), "an address never emailed"
    sids = office.rows("SELECT provider_id FROM messages WHERE channel = 'sms' AND status = 'sent'")
    assert sorted(s for (s,) in sids) == sorted(m["sid"] for m in providers.twilio.messages)
