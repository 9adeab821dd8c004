"""Leads page at 100,000 leads (or --leads N) on PostgreSQL: seed time, server time per page
change, and the time a browser waits from a click to the new rows.

    make bench                       # or: .venv/bin/python -m bench.leads_page
    BENCH_DATABASE_URL=postgresql+psycopg://... make bench
    .venv/bin/python -m bench.leads_page --leads 1000000 --results bench/results/leads_page_1m.json

It (re)creates the database `recovery_bench` on the local server unless BENCH_DATABASE_URL is
set, seeds it with `recovery seed-demo --leads N`, then measures. Results go to
bench/results/leads_page.json (or --results); the README quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import fresh_database, machine, save

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "leads_page.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench"
LEADS = 100_000


def _cli(url: str, *args: str, stdin: str | None = None) -> tuple[str, float]:
    env = dict(os.environ, DATABASE_URL=url)
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("recovery")), *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout, time.perf_counter() - started


BENCH_USER = "bench.manager@harborviewrealty.example"
BENCH_PASSWORD = "bench-password-not-secret"


def ensure_bench_user(url: str) -> None:
    """A manager of the first office with a known password, to sign in as."""
    try:
        _cli(
            url,
            "create-user",
            "--email",
            BENCH_USER,
            "--role",
            "manager",
            "--tenant",
            "harborview-austin",
            "--password-stdin",
            stdin=BENCH_PASSWORD,
        )
    except subprocess.CalledProcessError as exc:
        if "already exists" not in exc.stderr:
            raise


def seed(url: str, leads: int = LEADS) -> dict:
    fresh_database(url)
    _cli(url, "migrate")
    out, wall = _cli(url, "seed-demo", "--leads", str(leads), "--seed", "7")
    first_line = out.splitlines()[0]
    print(first_line)
    return {"leads": leads, "wall_seconds": round(wall, 1), "report": first_line}


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
        "runs": len(ordered),
    }


def server_times(url: str, runs: int) -> dict:
    """What the Leads page's event handler does on a page change, timed end to end on the
    server: resolve the session (one transaction), count and fetch the page (another), build the
    rows it sends."""
    os.environ["DATABASE_URL"] = url
    from recovery_app.db import get_engine, reset_engine, session_scope
    from recovery_app.settings import reload_settings

    # Something imported earlier may have read the settings already (and their SQLite default).
    reload_settings()
    reset_engine()
    from recovery_app.domain.accounts import auth
    from recovery_app.domain.leads import service
    from recovery_app.domain.leads.schemas import LeadQuery
    from recovery_app.models import Lead, LeadStatus, Temperature, Tenant, User
    from recovery_app.states.leads import _row

    with session_scope() as session:
        tenant_id = session.execute(select(Tenant.id).order_by(Tenant.id).limit(1)).scalar_one()
        tenant_leads = session.execute(
            select(func.count()).select_from(Lead).where(Lead.tenant_id == tenant_id)
        ).scalar_one()
        agent_id = session.execute(
            select(User.id).where(User.tenant_id == tenant_id, User.role == "agent").limit(1)
        ).scalar_one()
    last_page = -(-tenant_leads // 25)
    with session_scope() as session:
        user = session.execute(select(User).where(User.email == BENCH_USER)).scalar_one()
        token = auth.open_session(
            session, user=user, tenant_id=user.tenant_id, now=datetime.now(UTC)
        )

    scenarios: dict[str, LeadQuery] = {
        "first page (default sort)": LeadQuery(),
        "page 2": LeadQuery(page=2),
        "page 100": LeadQuery(page=100),
        "last page (deepest offset)": LeadQuery(page=last_page),
        "temperature=hot, page 2": LeadQuery(temperature=Temperature.HOT, page=2),
        "status=silent sorted by score": LeadQuery(status=LeadStatus.SILENT, sort="score"),
        "agent filter, sorted by name": LeadQuery(
            assigned_user_id=agent_id, sort="name", descending=False
        ),
        "text search 'smith'": LeadQuery(text="smith"),
        "text search by phone '512555'": LeadQuery(text="512555"),
        "silent + hot + source=referral": LeadQuery(
            status=LeadStatus.SILENT, temperature=Temperature.HOT, source="referral"
        ),
    }

    def once(query: LeadQuery) -> float:
        started = time.perf_counter()
        with session_scope() as session:
            viewer = auth.resolve_session(session, token=token, now=datetime.now(UTC))
        with session_scope() as session:
            page = service.list_leads(session, viewer=viewer, query=query, now=datetime.now(UTC))
        now = datetime.now(UTC)
        [_row(lead, now) for lead in page.items]
        return (time.perf_counter() - started) * 1000

    results = {}
    for name, query in scenarios.items():
        once(query)  # warm the pool and PostgreSQL's caches: steady state is what users see
        results[name] = _percentiles([once(query) for _ in range(runs)])
        print(
            f"  {name:<34} p50 {results[name]['p50_ms']:>6} ms  p95 {results[name]['p95_ms']:>6} ms"
        )
    get_engine().dispose()
    return {"tenant_leads": tenant_leads, "scenarios": results}


def browser_times(url: str, clicks: int) -> dict:
    """Click "Next" in headless Chromium and wait for the new page label: what a user waits,
    including session resolution, the websocket round trip, Reflex's state delta and React's
    render."""
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path
    from tests.e2e.server import ReflexServer, app_env

    log = ROOT / "bench" / "results" / "leads_page_server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = ReflexServer(app_env(url), log)
    samples: list[float] = []
    try:
        server.wait_ready()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url + "/leads")
            page.fill("#login-email", BENCH_USER)
            page.fill("#login-password", BENCH_PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector(".lead-row")
            for n in range(2, clicks + 2):
                started = time.perf_counter()
                page.click("#page-next")
                page.wait_for_function(
                    f"document.querySelector('#page-label')?.textContent.startsWith('Page {n} ')"
                )
                samples.append((time.perf_counter() - started) * 1000)
            browser.close()
    finally:
        server.stop()
        log.unlink(missing_ok=True)
    return _percentiles(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--skip-seed", action="store_true", help="reuse an already seeded database")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--leads", type=int, default=LEADS, help="leads seeded (demo data)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the figures go (JSON)")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)

    report: dict = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "database": make_url(url).render_as_string(hide_password=True),
    }
    if args.skip_seed:  # the seeded database as it is; its seed figures from an earlier run
        earlier = json.loads(args.results.read_text()) if args.results.exists() else {}
        report["seed"] = earlier.get("seed")
    else:
        print(f"Seeding {args.leads:,} leads ...")
        report["seed"] = seed(url, args.leads)
    ensure_bench_user(url)
    print("Server time per page change:")
    report["server"] = server_times(url, args.runs)
    if not args.skip_browser:
        print("Browser click-to-rows:")
        report["browser_next_page"] = browser_times(url, args.clicks)
        print(
            f"  next page p50 {report['browser_next_page']['p50_ms']} ms, p95 {report['browser_next_page']['p95_ms']} ms"
        )
    save(args.results, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
