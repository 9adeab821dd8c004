"""Agent workspace at 100,000 leads on PostgreSQL: silent-lead table page changes, lead detail
open, the dashboard's tick cost, and webhook-to-dashboard latency with 20 dashboards open.

    .venv/bin/python -m bench.workspace                # seeds recovery_bench (about 2 min)
    .venv/bin/python -m bench.workspace --skip-seed    # reuse a seeded recovery_bench
    .venv/bin/python -m bench.workspace --seed-leads 1000000 --skip-browser \
        --results bench/results/workspace_1m.json      # the server half at a million leads

Server times run the pages' own event handlers (or the domain calls they make) in this
process against the seeded database. The live part starts the app (`reflex run --env prod`
with Redis), opens `--clients` headless Chromium contexts on the dashboard, posts signed leads
to the intake webhook and records, in every browser, when each lead's name appears in the
live feed (a MutationObserver stamps Date.now(); same machine, same clock).
Results go to bench/results/workspace.json; the README quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import machine, save
from bench.leads_page import (
    BENCH_PASSWORD,
    BENCH_USER,
    LEADS,
    _percentiles,
    ensure_bench_user,
    seed,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "workspace.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SECRET = "bench-workspace-secret"
LOCATION = "harborview-austin"

# Runs in each browser: every 20 ms, stamp (Date.now()) the first moment each watched name is
# in the live feed. A timer rather than a MutationObserver: it does not depend on how React
# swaps the feed's nodes.
WATCH_FEED = """
name => {
  window.__seen = window.__seen || {};
  window.__watch = window.__watch || [];
  window.__watch.push(name);
  if (!window.__watcher) {
    window.__watcher = setInterval(() => {
      const text = document.querySelector('#feed')?.innerText || '';
      for (const n of window.__watch) {
        if (!(n in window.__seen) && text.includes(n)) window.__seen[n] = Date.now();
      }
    }, 20);
  }
}
"""


def _token() -> str:
    from recovery_app.db import session_scope
    from recovery_app.domain.accounts import auth
    from recovery_app.models import User

    with session_scope() as session:
        user = session.execute(select(User).where(User.email == BENCH_USER)).scalar_one()
        return auth.open_session(
            session, user=user, tenant_id=user.tenant_id, now=datetime.now(UTC)
        )


def _timed(runs: int, once) -> dict:
    once()  # warm the pool and PostgreSQL's caches: steady state is what users see
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def silent_table_times(runs: int, token: str) -> dict:
    """A page change of the silent-lead table as its handler does it: resolve the session,
    count and read the page with what is planned for each lead, build the rows."""
    from recovery_app.db import session_scope
    from recovery_app.domain.accounts import auth
    from recovery_app.domain.campaigns import silent_leads as silent
    from recovery_app.models import Campaign, Channel, Lead, LeadStatus, Temperature, Tenant
    from recovery_app.states.silent_leads import _row

    with session_scope() as session:
        tenant_id = session.execute(
            select(Tenant.id).where(Tenant.location_id == LOCATION)
        ).scalar_one()
        silent_count = session.execute(
            select(func.count())
            .select_from(Lead)
            .where(Lead.tenant_id == tenant_id, Lead.status == LeadStatus.SILENT)
        ).scalar_one()
        campaign_id = (
            session.execute(
                select(Campaign.id).where(
                    Campaign.tenant_id == tenant_id, Campaign.status == "active"
                )
            )
            .scalars()
            .first()
        )
    last_page = max(1, -(-silent_count // silent.PAGE_SIZE))
    scenarios = {
        "first page (longest silent first)": silent.SilentQuery(),
        "page 2": silent.SilentQuery(page=2),
        "last page (deepest offset)": silent.SilentQuery(page=last_page),
        "sorted by score": silent.SilentQuery(sort="score"),
        "silent 30+ days, warm": silent.SilentQuery(
            silent_for_hours=720, temperature=Temperature.WARM
        ),
        "in no campaign": silent.SilentQuery(campaign_id=0),
        "in one campaign": silent.SilentQuery(campaign_id=campaign_id),
        "last channel email, score 20+": silent.SilentQuery(
            last_channel=Channel.EMAIL, min_score=20
        ),
        "text search 'smith'": silent.SilentQuery(text="smith"),
    }

    def once(query: silent.SilentQuery) -> None:
        with session_scope() as session:
            viewer = auth.resolve_session(session, token=token, now=datetime.now(UTC))
        with session_scope() as session:
            page = silent.list_silent(session, viewer=viewer, query=query, now=datetime.now(UTC))
        now = datetime.now(UTC)
        [_row(lead, now) for lead in page.items]

    results = {}
    for name, query in scenarios.items():
        results[name] = _timed(runs, lambda q=query: once(q))
        print(
            f"  {name:<36} p50 {results[name]['p50_ms']:>6} ms  p95 {results[name]['p95_ms']:>6} ms"
        )
    return {"silent_leads_in_office": silent_count, "scenarios": results}


async def _handler_times(runs: int, token: str) -> dict:
    """Lead detail `load` and the dashboard's `load` and `tick`, as Reflex runs them."""
    from recovery_app.db import session_scope
    from recovery_app.domain.metrics import dashboard
    from recovery_app.models import Activity, Lead, Tenant
    from recovery_app.states.dashboard import DashboardState
    from recovery_app.states.lead_detail import LeadDetailState
    from tests.states import call, state_as

    with session_scope() as session:
        tenant_id = session.execute(
            select(Tenant.id).where(Tenant.location_id == LOCATION)
        ).scalar_one()
        # Leads with long histories are the slow ones to open: those with the most activity.
        busiest = list(
            session.execute(
                select(Activity.lead_id)
                .where(Activity.tenant_id == tenant_id)
                .group_by(Activity.lead_id)
                .order_by(func.count().desc())
                .limit(runs)
            ).scalars()
        )
        newest = list(
            session.execute(
                select(Lead.id)
                .where(Lead.tenant_id == tenant_id)
                .order_by(Lead.id.desc())
                .limit(runs)
            ).scalars()
        )

    async def timed(coro_factory, items) -> dict:
        await coro_factory(items[0])
        samples = []
        for item in items:
            started = time.perf_counter()
            await coro_factory(item)
            samples.append((time.perf_counter() - started) * 1000)
        return _percentiles(samples)

    async def open_lead(lead_id: int) -> None:
        state = state_as(LeadDetailState, token, f"/leads/{lead_id}")
        await call(LeadDetailState.load, state)

    report = {
        "lead_detail_busiest": await timed(open_lead, busiest),
        "lead_detail_recent": await timed(open_lead, newest),
    }

    def full_snapshot(_: int) -> None:
        dashboard.CACHE.clear()
        dashboard.office_snapshot(tenant_id)

    def tick_snapshot(_: int) -> None:
        dashboard.CACHE.expire(tenant_id)
        dashboard.office_snapshot(tenant_id)

    async def in_thread(work, item: int) -> None:
        await asyncio.to_thread(work, item)

    # With the 90-day funnel (counted once a minute) and without it (every other second).
    report["dashboard_snapshot_with_funnel"] = await timed(
        lambda i: in_thread(full_snapshot, i), list(range(runs))
    )
    report["dashboard_snapshot_per_second"] = await timed(
        lambda i: in_thread(tick_snapshot, i), list(range(runs))
    )

    dashboards = [state_as(DashboardState, token, "/dashboard") for _ in range(20)]
    for state in dashboards:
        await call(DashboardState.load, state)

    async def tick(index: int) -> None:
        await call(DashboardState.tick, dashboards[index % len(dashboards)])

    # A tick served from the shared snapshot (the cache holds it for a second).
    report["dashboard_tick_cached"] = await timed(tick, list(range(runs)))

    # One tick of 20 open dashboards: the first recomputes the snapshot, 19 share it.
    async def round_of_20(_: int) -> None:
        dashboard.CACHE.expire(tenant_id)
        for state in dashboards:
            await call(DashboardState.tick, state)

    report["dashboard_tick_20_clients"] = await timed(round_of_20, list(range(runs)))
    return report


def handler_times(runs: int, token: str) -> dict:
    result = asyncio.run(_handler_times(runs, token))
    for name, numbers in result.items():
        print(f"  {name:<36} p50 {numbers['p50_ms']:>6} ms  p95 {numbers['p95_ms']:>6} ms")
    return result


def _signed(body: dict) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", "X-Signature-256": signature}


def live_latency(url: str, levels: list[int], leads: int) -> dict:
    """Webhook to every open dashboard: the time from posting a lead until its name shows in
    each browser's live feed, with 1, 5, ... open dashboards (one server, browsers added
    level by level). The browsers share the server's two cores."""
    sys.path.insert(0, str(ROOT))
    import redis
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path
    from tests.e2e.server import ReflexServer, app_env, free_port

    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    # Production signs in only from the configured origin.
    env = app_env(
        url,
        REDIS_URL=REDIS_URL,
        LEAD_WEBHOOK_SECRET=SECRET,
        SECRET_KEY="bench-secret-key-for-sessions-and-unsubscribe-links",
        DEMO_MODE="0",
        APP_BASE_URL=f"http://localhost:{port}",
    )
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = ReflexServer(env, Path(tmp) / "reflex.log", prod=True, port=port)
        try:
            server.wait_ready(path="/login", timeout=900)
            with sync_playwright() as playwright, httpx.Client(timeout=30) as client:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_ARGS
                )
                first = browser.new_context(viewport={"width": 1280, "height": 900})
                page = first.new_page()
                page.goto(server.url + "/login")
                page.fill("#login-email", BENCH_USER)
                page.fill("#login-password", BENCH_PASSWORD)
                page.click("#login-submit")
                page.wait_for_selector("#feed", timeout=120_000)
                state = first.storage_state()
                first.close()
                pages: list = []
                run = f"{int(time.time())}"
                for level in levels:
                    while len(pages) < level:
                        context = browser.new_context(
                            viewport={"width": 1280, "height": 900}, storage_state=state
                        )
                        p = context.new_page()
                        p.goto(server.url + "/dashboard")
                        p.wait_for_selector(".feed-row", timeout=120_000)
                        pages.append(p)
                    time.sleep(3)  # let the new dashboards settle into their ticks
                    samples, missed = [], 0
                    for n in range(leads):
                        name = f"Live{run}L{level}x{n}"
                        got = _one_lead(client, server.api_url, pages, name)
                        missed += len(pages) - len(got)
                        samples += got
                        time.sleep(1.0)
                    report[str(level)] = {"missed_over_15_s": missed, **_percentiles(samples)}
                    print(f"  {level:>2} dashboards: {report[str(level)]}")
                browser.close()
        finally:
            server.stop()
    return {"leads_per_level": leads, "by_open_dashboards": report}


def _one_lead(client: httpx.Client, api_url: str, pages: list, name: str) -> list[float]:
    """Post one lead and return, per browser that showed it within 15 s, how long it took."""
    for p in pages:
        p.evaluate(WATCH_FEED, name)
    raw, headers = _signed(
        {
            "location_id": LOCATION,
            "first_name": name,
            "last_name": "Bench",
            "email": f"{name.lower()}@example.com",
            "source": "web_form",
            "message": "Looking to buy in the spring",
        }
    )
    posted = time.time() * 1000
    client.post(api_url + "/api/v1/webhooks/leads", content=raw, headers=headers).raise_for_status()
    deadline = time.monotonic() + 15
    seen: list[float | None] = [None] * len(pages)
    while time.monotonic() < deadline and None in seen:
        for i, p in enumerate(pages):
            if seen[i] is None:
                seen[i] = p.evaluate(f"window.__seen[{json.dumps(name)}] ?? null")
        time.sleep(0.1)
    return [s - posted for s in seen if s is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--levels", default="1,5,10,20", help="open dashboards, step by step")
    parser.add_argument("--leads", type=int, default=10, help="leads posted per level")
    parser.add_argument("--skip-seed", action="store_true", help="reuse an already seeded database")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--seed-leads", type=int, default=LEADS, help="leads seeded (demo data)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the figures go (JSON)")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url

    report: dict = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "database": make_url(url).render_as_string(hide_password=True),
    }
    previous = json.loads(args.results.read_text()) if args.results.exists() else {}
    if args.skip_seed:
        report["seed"] = previous.get("seed", "reused an existing recovery_bench")
    else:
        report["seed"] = seed(url, args.seed_leads)
    ensure_bench_user(url)
    token = _token()
    print("Silent-lead table, server time per page change:")
    report["silent_table"] = silent_table_times(args.runs, token)
    print("Handlers (server time):")
    report["handlers"] = handler_times(args.runs, token)
    from recovery_app.db import get_engine

    get_engine().dispose()
    if args.skip_browser:
        report["live"] = previous.get("live")
    else:
        print("Webhook to dashboard, live:")
        levels = [int(n) for n in args.levels.split(",")]
        report["live"] = live_latency(url, levels, args.leads)
    save(args.results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
