"""Manager tools at scale: the Scoring page's queries, ROI, the campaign list's performance and
the campaign wizard's audience count on PostgreSQL with about 1,000,000 leads and 5,000,000 messages.

    .venv/bin/python -m bench.manager                 # seeds recovery_bench_1m (35-45 min)
    .venv/bin/python -m bench.manager --skip-seed     # reuse a seeded recovery_bench_1m
                                                      # (migrated to head first)

Each figure is the domain call the page's event handler makes, run `--runs` times in this
process against the seeded database (the first run of each is a warm-up and not counted), as
the manager of the larger office. Results go to bench/results/manager.json; the README quotes
them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.common import fresh_database, save
from bench.leads_page import _cli, _percentiles

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "manager.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench_1m"
LEADS = 1_100_000
TARGET_MS = {"scoring": 500, "roi": 500, "audience": 300}


def seed(url: str, leads: int) -> dict[str, Any]:
    fresh_database(url)
    _cli(url, "migrate")
    out, wall = _cli(url, "seed-demo", "--leads", str(leads), "--seed", "11")
    first = out.splitlines()[0]
    print(first)
    return {"leads": leads, "wall_seconds": round(wall, 1), "report": first}


def timed(fn: Callable[[], Any], runs: int) -> dict[str, Any]:
    fn()  # warm-up: plans cached, pages in memory, as on a server that has been running
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def measure(runs: int, only: list[str] | None = None) -> dict[str, Any]:
    from recovery_app.db import session_scope
    from recovery_app.domain.accounts.schemas import Viewer
    from recovery_app.domain.analytics import roi
    from recovery_app.domain.campaigns import audience, performance
    from recovery_app.domain.scoring import insights
    from recovery_app.models import Lead, Message, Role, User

    now = datetime.now(UTC)
    with session_scope() as s:
        tenant_id, tenant_leads = s.execute(
            select(Lead.tenant_id, func.count())
            .group_by(Lead.tenant_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        manager = s.execute(
            select(User).where(User.tenant_id == tenant_id, User.role == Role.MANAGER).limit(1)
        ).scalar_one()
        viewer = Viewer(tenant_id=tenant_id, role=Role.MANAGER, user_id=manager.id)
        sizes = {
            "leads": s.execute(select(func.count()).select_from(Lead)).scalar_one(),
            "messages": s.execute(select(func.count()).select_from(Message)).scalar_one(),
            "tenant_leads": tenant_leads,
            "tenant_messages": s.execute(
                select(func.count()).select_from(Message).where(Message.tenant_id == tenant_id)
            ).scalar_one(),
        }
        today = roi.office_clock(s, viewer=viewer, now=now).date()
    print(sizes)

    def in_session(work: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with session_scope() as s:
                return work(s)

        return run

    cases: dict[str, tuple[str, Callable[[], Any]]] = {}
    for axis in ("source", "temperature", "days_silent", "agent"):
        cases[f"heatmap x {axis}"] = (
            "scoring",
            in_session(lambda s, a=axis: insights.heatmap(s, viewer=viewer, axis=a, now=now)),
        )
    for channel in (None, "sms"):
        cases[f"response grid ({channel or 'all'})"] = (
            "scoring",
            in_session(
                lambda s, c=channel: insights.response_grid(s, viewer=viewer, now=now, channel=c)
            ),
        )
    cases["factor effects"] = (
        "scoring",
        in_session(lambda s: insights.factor_effects(s, viewer=viewer)),
    )
    cases["priority queue"] = (
        "scoring",
        in_session(lambda s: insights.priority_queue(s, viewer=viewer, now=now)),
    )
    for days in (30, 90, 365):
        period = roi.Period(today - timedelta(days=days - 1), today)
        for model in roi.MODELS:
            cases[f"ROI {days} d, {model}"] = (
                "roi",
                in_session(
                    lambda s, p=period, m=model: roi.report(
                        s, viewer=viewer, period=p, model=m, now=now
                    )
                ),
            )
    cases["analytics flow 90 d"] = (
        "roi",
        in_session(
            lambda s: roi.flow(
                s, viewer=viewer, period=roi.Period(today - timedelta(days=89), today)
            )
        ),
    )
    cases["campaign list performance"] = (
        "roi",
        in_session(lambda s: performance.performance(s, viewer=viewer)),
    )
    rules = {
        "all open leads": {},
        "silent": {"status": ["silent"]},
        "silent 7 d+, warm/hot, score 40+": {
            "status": ["silent"],
            "temperature": ["warm", "hot"],
            "min_score": 40,
            "silent_for_hours": 168,
        },
        "source portal, score 20-60": {"source": ["portal"], "min_score": 20, "max_score": 60},
        "tag buyer": {"tags": ["buyer"]},
    }
    for name, rule in rules.items():
        cases[f"audience count: {name}"] = (
            "audience",
            in_session(
                lambda s, r=rule: audience.count_matching(s, r, tenant_id=tenant_id, now=now)
            ),
        )
        cases[f"audience sample: {name}"] = (
            "audience",
            in_session(
                lambda s, r=rule: audience.sample_matching(s, r, tenant_id=tenant_id, now=now)
            ),
        )

    results = {}
    for name, (kind, fn) in cases.items():
        if only and not any(part.lower() in name.lower() for part in only):
            continue
        figures = timed(fn, runs) | {"target_ms": TARGET_MS[kind]}
        figures["within_target"] = figures["p95_ms"] <= TARGET_MS[kind]
        results[name] = figures
        print(f"{name:45s} p50 {figures['p50_ms']:8.1f}  p95 {figures['p95_ms']:8.1f}  ms")
    return {"sizes": sizes, "queries": results}


def write_costs(runs: int) -> dict[str, Any]:
    """What one recovery message costs to record, rolled back each time: to a lead with a
    deal (the attribution triggers rewrite the deal's credits) and to one without (they only
    look). Not a target; the price the attribution table charges writers."""
    from sqlalchemy.orm import Session

    from recovery_app.db import get_engine
    from recovery_app.models import Channel, Conversion, Direction, Lead, Message, MessageCategory

    with Session(get_engine()) as s:
        deal = s.execute(select(Conversion).order_by(Conversion.closed_at.desc()).limit(1))
        won = deal.scalar_one()
        open_lead = s.execute(
            select(Lead.id)
            .where(Lead.tenant_id == won.tenant_id, Lead.converted_at.is_(None))
            .limit(1)
        ).scalar_one()

    def one_message(lead_id: int, sent_at: datetime) -> Callable[[], Any]:
        def run() -> None:
            with Session(get_engine()) as s:
                s.add(
                    Message(
                        tenant_id=won.tenant_id,
                        lead_id=lead_id,
                        channel=Channel.SMS,
                        direction=Direction.OUTBOUND,
                        category=MessageCategory.MARKETING,
                        body="bench",
                        idempotency_key=f"bench:{time.perf_counter_ns()}",
                        sent_at=sent_at,
                        created_at=sent_at,
                    )
                )
                s.flush()
                s.rollback()

        return run

    figures = {
        "message to a lead with a deal": timed(
            one_message(won.lead_id, won.closed_at - timedelta(days=1)), runs
        ),
        "message to a lead without one": timed(one_message(open_lead, datetime.now(UTC)), runs),
    }
    for name, f in figures.items():
        print(f"write: {name:38s} p50 {f['p50_ms']:8.1f}  p95 {f['p95_ms']:8.1f}  ms")
    return figures


def time_rollup() -> dict[str, Any]:
    """The hourly `rollup_daily_metrics` job once the backfill is done: today and yesterday of
    every office, rebuilt whole, and the running totals' change logs folded (it is
    idempotent, so timing it changes nothing)."""
    from recovery_app.db import session_scope
    from recovery_app.domain.metrics.rollup import rollup_daily_metrics

    with session_scope() as s:  # finish any backfill first; that run is not the figure
        rollup_daily_metrics(s, datetime.now(UTC))
    started = time.perf_counter()
    with session_scope() as s:
        counts = rollup_daily_metrics(s, datetime.now(UTC))
    seconds = round(time.perf_counter() - started, 1)
    print(f"rollup_daily_metrics, steady state: {seconds} s {counts}")
    return {"seconds": seconds, **counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--leads", type=int, default=LEADS)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument(
        "--only",
        action="append",
        help="measure only the queries whose name contains this (repeatable), e.g. ROI",
    )
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.url
    from recovery_app.settings import reload_settings

    reload_settings()
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    if args.skip_seed:
        # A database seeded by an earlier revision: its new migrations (and their backfills).
        _, wall = _cli(args.url, "migrate")
        report["migrate_seconds"] = round(wall, 1)
        print(f"migrate: {wall:.1f} s")
    else:
        report["seed"] = seed(args.url, args.leads)
    from recovery_app.db import session_scope

    with session_scope() as s:
        report["machine"]["postgres"] = s.execute(text("SHOW server_version")).scalar_one()
    # The rollup first: it finishes any backfill and folds the running totals' change logs,
    # as the hourly job has done on a server that has been running.
    report["rollup"] = time_rollup()
    report |= measure(args.runs, args.only)
    report["writes"] = write_costs(args.runs)
    save(RESULTS, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
