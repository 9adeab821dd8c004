"""Many workers: the production server (`image_run`, started as the image's CMD) on PostgreSQL
and a Redis of its own with IMAGE_WORKERS Granian worker processes on one port, as the compose
file runs each replica.

- The UI works across workers: a signed-in browser keeps its state (a filter, the user) when
  its websocket reconnects to another worker, and what one browser does another sees.
- One scheduler leader: every worker runs a scheduler, the health answers of all of them name
  the same leader, and the job run records show one worker running every window once.
- The dispatchers of all workers share the outbox: hundreds of signed leads posted at once get
  exactly one first-response text each from the fake Twilio, sent by more than one worker.

Which worker holds a browser's websocket is read from Reflex's own record in Redis (the
token's socket record names the worker instance); which worker wrote a log line, from the
`pid` every JSON line carries."""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import create_engine, text

from tests.e2e.conftest import (
    IMAGE_LEAD_SECRET,
    ImageRun,
    sign_in,
)
from tests.e2e.server import run_cli

pytestmark = pytest.mark.e2e

LEADS = 300
OFFICE = "workers-office"
SOCKET_RECORD = "token_manager_socket_record_{}"  # reflex.utils.token_manager.RedisTokenManager


@pytest.fixture(scope="module")
def prod(image_run: ImageRun) -> ImageRun:
    if image_run.redis_url is None:
        pytest.skip("one worker here: the production server needs PostgreSQL and redis-server")
    assert image_run.workers > 1
    return image_run


@pytest.fixture
def new_page(browser) -> Iterator[Callable[[], Page]]:
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield make
    for context in contexts:
        context.close()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """`check()`'s first truthy answer, polled; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


class Sockets:
    """Which worker instance holds a browser tab's websocket, from Reflex's record in Redis."""

    def __init__(self, url: str):
        self.redis = redis.Redis.from_url(url)

    def record(self, page: Page) -> Any:
        token = page.evaluate("window.sessionStorage.getItem('token')")
        raw = self.redis.get(SOCKET_RECORD.format(token)) if token else None
        return pickle.loads(raw) if raw else None  # a reflex SocketRecord(instance_id, sid)

    def owner_after(self, page: Page, previous_sid: str | None) -> tuple[str, str]:
        """(instance id, socket id) of the tab's websocket, once it is a new one."""
        record = wait_for(
            "the tab's websocket is linked in Redis",
            lambda: (r := self.record(page)) is not None and r.sid != previous_sid and r,
        )
        return record.instance_id, record.sid


@pytest.fixture(scope="module")
def sockets(prod: ImageRun) -> Iterator[Sockets]:
    assert prod.redis_url is not None
    sockets = Sockets(prod.redis_url)
    yield sockets
    sockets.redis.close()


def _hot_rows_only(page: Page) -> None:
    # The filter's label arrives with the page's state: rows read before it can still be the
    # default view's (a reload renders that first), so wait for it, then for the rows.
    expect(page.locator("#filter-temperature")).to_have_text("Hot")
    badges = page.locator(".lead-row td:nth-child(5)")
    expect(badges.first).to_have_text("hot")
    expect(badges.filter(has_not_text="hot")).to_have_count(0)


def test_a_browser_keeps_its_state_when_its_websocket_moves_to_another_worker(
    prod: ImageRun, new_page, sockets: Sockets
) -> None:
    page = new_page()
    sign_in(page, prod, prod.account("manager"), path="/leads")
    user = page.locator("#user-name").inner_text()
    expect(page.locator(".lead-row")).to_have_count(25)
    # A filter lives only in the page's server-side state (the address stays /leads).
    page.locator("#filter-temperature").click()
    page.get_by_role("option", name="Hot").click()
    _hot_rows_only(page)
    hot_range = page.locator("#lead-range").inner_text()
    owner, sid = sockets.owner_after(page, None)
    owners = [owner]
    # Each reload opens a new websocket, which the kernel hands to any of the workers; the
    # state must come back on every one of them (it lives in Redis, not in a worker).
    for _ in range(15):
        page.reload()
        expect(page.locator("#user-name")).to_have_text(user)
        _hot_rows_only(page)
        expect(page.locator("#lead-range")).to_have_text(hot_range)
        owner, sid = sockets.owner_after(page, sid)
        owners.append(owner)
        if len(owners) >= 4 and len(set(owners)) > 1:
            break
    assert len(set(owners)) > 1, f"every reload landed on the same worker: {owners}"


def test_what_one_browser_does_another_browser_sees_on_another_worker(
    prod: ImageRun, new_page, sockets: Sockets
) -> None:
    engine = create_engine(prod.env["DATABASE_URL"])
    with engine.connect() as conn:
        lead_id = conn.execute(
            text(
                "SELECT l.id FROM leads l JOIN tenants t ON t.id = l.tenant_id"
                " WHERE t.location_id = 'harborview-austin' AND l.phone IS NOT NULL"
                " AND NOT l.opted_out_sms AND l.status NOT IN ('converted', 'lost')"
                " ORDER BY l.id LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    manager = prod.account("manager")
    writer, reader = new_page(), new_page()
    sign_in(writer, prod, manager, path=f"/leads/{lead_id}")
    sign_in(reader, prod, manager, path=f"/leads/{lead_id}")
    writer_owner, _ = sockets.owner_after(writer, None)
    reader_owner, sid = sockets.owner_after(reader, None)
    for _ in range(15):  # until the two tabs' websockets are on different workers
        if reader_owner != writer_owner:
            break
        reader.reload()
        expect(reader.locator("#lead-title")).to_have_text(re.compile(r"\S"))
        reader_owner, sid = sockets.owner_after(reader, sid)
    assert reader_owner != writer_owner, "both tabs stayed on one worker"
    expect(reader.locator("#lead-title")).to_have_text(re.compile(r"\S"))

    body = f"Across workers {time.time_ns()}: still looking?"
    writer.locator("#compose-body").fill(body)
    writer.locator("#compose-send").click()
    expect(writer.locator("#compose-result")).to_have_text(re.compile(r"^(Queued|Not sent)"))
    # The reader's page asks every 3 s whether the conversation moved, on its own worker.
    expect(reader.locator(".message-row").filter(has_text=body)).to_be_visible(timeout=20_000)


def _job_runs(prod: ImageRun) -> list[tuple[str, datetime, str]]:
    engine = create_engine(prod.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT job_name, window_start, worker FROM job_runs"))
            return [(r[0], r[1], r[2]) for r in rows]
    finally:
        engine.dispose()


def test_one_scheduler_leader_runs_each_job_window_once(prod: ImageRun) -> None:
    started = [
        line
        for line in prod.log_lines()
        if line.get("message", "").startswith("embedded scheduler started as ")
    ]
    holders = {line["message"].rsplit(" ", 1)[1]: line["pid"] for line in started}
    # Every worker runs a scheduler of its own, waiting for the lease.
    assert len(holders) == prod.workers and len(set(holders.values())) == prod.workers
    # The nurture sweep runs every 5 s here: several windows, each of them once.
    sweeps = wait_for(
        "three nurture sweep windows",
        lambda: len(r := [w for w in _job_runs(prod) if w[0] == "nurture_sweep"]) >= 3 and r,
    )
    leaders = set()
    for _ in range(12):  # a new connection each: the answers come from all the workers
        health = httpx.get(prod.at + "/api/v1/health", timeout=10).json()
        leaders.add(health["scheduler"]["leader"])
    assert len(leaders) == 1, leaders
    (leader,) = leaders
    assert leader in holders
    runs = _job_runs(prod)
    assert {worker for _, _, worker in runs} == {leader}, Counter(w for _, _, w in runs)
    windows = Counter((job, window) for job, window, _ in runs)
    assert max(windows.values()) == 1
    assert len({window for _, window, _ in sweeps}) == len(sweeps) >= 3


def _daytime_zone() -> str:
    """A zone where it is 10:00-18:59 now: the first texts go out at once, not at 08:00."""
    zones = [
        "America/Chicago",
        "America/Los_Angeles",
        "Pacific/Honolulu",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Europe/Berlin",
        "America/New_York",
    ]
    now = datetime.now(UTC)
    return next(z for z in zones if 10 <= now.astimezone(ZoneInfo(z)).hour < 19)


def test_the_dispatchers_of_all_workers_share_the_outbox_without_doubles(
    prod: ImageRun,
) -> None:
    run_cli(
        prod.env,
        "create-tenant",
        "--name",
        "Workers Office",
        "--location-id",
        OFFICE,
        "--timezone",
        "America/Chicago",
    )
    zone = _daytime_zone()
    phones = [f"+1512555{3000 + i:04d}" for i in range(LEADS)]

    def post(i: int) -> int:
        body = json.dumps(
            {
                "location_id": OFFICE,
                "first_name": f"Worker{i}",
                "phone": phones[i],
                "source": "web_form",
                "timezone": zone,
                "consent": {"sms": True},
                "external_id": f"workers-{i}",
            }
        ).encode()
        signature = hmac.new(IMAGE_LEAD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = client.post(
            prod.at + "/api/v1/webhooks/leads",
            content=body,
            headers={"Content-Type": "application/json", "X-Signature-256": f"sha256={signature}"},
            timeout=60,
        )
        return answer.status_code

    begun = time.monotonic()
    # 16 senders at once, each on a connection of its own: every worker listens on the port
    # (SO_REUSEPORT), and the kernel spreads the connections over them.
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(post, range(LEADS)))
    posted = time.monotonic() - begun
    assert statuses == {201: LEADS}, statuses

    ours = set(phones)

    def texted() -> Counter[str]:
        with prod.twilio.lock:
            return Counter(m["To"] for m in prod.twilio.messages if m.get("To") in ours)

    wait_for("a text to every lead", lambda: len(texted()) == LEADS, timeout=90)
    sent = time.monotonic() - begun

    def drained() -> dict | None:
        outbox = httpx.get(prod.at + "/api/v1/health", timeout=10).json()["outbox"]
        return outbox if outbox["due"] == outbox["sending"] == 0 else None

    outbox = wait_for("the outbox drained", drained)
    time.sleep(3)  # a double would go out in the dispatchers' next passes (every 2 s)
    assert set(texted().values()) == {1}, [n for n, c in texted().items() if c > 1]

    engine = create_engine(prod.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT m.id, m.lead_id, m.status FROM messages m"
                    " JOIN leads l ON l.id = m.lead_id JOIN tenants t ON t.id = l.tenant_id"
                    " WHERE t.location_id = :office AND m.channel = 'sms'"
                    " AND m.direction = 'outbound'"
                ),
                {"office": OFFICE},
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == LEADS and len({r.lead_id for r in rows}) == LEADS
    assert {r.status for r in rows} == {"sent"}, Counter(r.status for r in rows)
    ids = {r.id for r in rows}
    lines = [
        line
        for line in prod.log_lines()
        if line.get("logger") == "recovery_app.messaging.dispatcher"
        and line.get("message_id") in ids
        and line.get("status") == "sent"
    ]
    by_message = Counter(line["message_id"] for line in lines)
    assert len(by_message) == LEADS and set(by_message.values()) == {1}
    pids = Counter(line["pid"] for line in lines)
    assert len(pids) > 1, f"one worker sent everything: {pids}"
    print(
        f"\n{LEADS} leads posted in {posted:.1f} s, all texted {sent:.1f} s after the first post;"
        f" sends per worker pid {dict(pids)}; outbox after: {outbox}"
    )
