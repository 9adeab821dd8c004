"""Silent-lead detection over 1,000,000 leads on PostgreSQL: the first job run (marks the
backlog - every lead written to and unanswered past its office's threshold - in capped passes)
and the next one five minutes later, as the scheduler runs it (marks only the few leads that
crossed a threshold since).

    .venv/bin/python -m bench.silence [--leads 1000000]

It (re)creates the database `recovery_bench_silence` on the local server unless
BENCH_SILENCE_DATABASE_URL is set, loads the leads with one INSERT ... SELECT generate_series,
checks each pass against an independent count, and writes bench/results/silence.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.common import fresh_database, machine, migrate, save

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "silence.json"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench_silence"
NOW = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)
TARGET_SECONDS = 5.0
# (default threshold hours, per-temperature overrides): three offices that differ.
OFFICES = [(48, {"hot": 4, "warm": 24}), (24, {}), (72, {"hot": 12})]

# Status mix per g % 20: 60% contacted, 10% engaged, 5% recovered, 10% new, 10% converted,
# 5% lost. Contacted leads: 1 in 5 answered after our last message. Engaged and recovered: half
# answered after it, half we wrote to after their answer. 1 in 100 leads is snoozed for a day.
LEADS_SQL = """
INSERT INTO leads (tenant_id, first_name, last_name, email, phone, source, status, score,
    temperature, score_factors, tags, attributes, submissions, inbound_count, consent_sms,
    consent_email, consent_evidence, opted_out_sms, opted_out_email, created_at, updated_at,
    last_activity_at, last_outbound_at, last_inbound_at, snoozed_until, timezone, score_boost)
SELECT tenant_ids[1 + g % cardinality(tenant_ids)], 'Lead' || g, 'Bench',
    'lead' || g || '@example.com', '+1512' || lpad(g::text, 7, '0'),
    (ARRAY['web_form','portal','referral','open_house','ghl'])[1 + g % 5],
    status, score,
    CASE WHEN score >= 70 THEN 'hot' WHEN score >= 40 THEN 'warm' ELSE 'cold' END,
    '[]', '[]', '{}', 1, (inbound IS NOT NULL)::int, true, true, '{}', false, false,
    coalesce(outbound, :now - (g % 720) * interval '1 hour') - interval '2 days', :now, coalesce(greatest(outbound, inbound), :now),
    outbound, inbound,
    CASE WHEN g % 100 = 7 THEN :now + interval '1 day' END,
    'America/Chicago', 0
FROM (
    SELECT g, status, score, tenant_ids, outbound,
        CASE
            WHEN outbound IS NULL THEN NULL
            WHEN status = 'contacted' AND g % 5 = 0
              OR status IN ('engaged', 'recovered') AND g % 2 = 0
              OR status IN ('converted', 'lost')
                THEN least(outbound + (1 + (g::bigint * 7919) % 4000) * interval '1 minute', :now)
            WHEN status IN ('engaged', 'recovered')
                THEN outbound - (1 + (g::bigint * 7919) % 4000) * interval '1 minute'
        END AS inbound
    FROM (
        SELECT g, status, (g * 37) % 100 AS score, CAST(:tenant_ids AS bigint[]) AS tenant_ids,
            CASE WHEN status <> 'new'
                 THEN :now - ((g::bigint * 104729) % (30 * 24 * 60)) * interval '1 minute' END AS outbound
        FROM (
            SELECT g, (ARRAY['contacted','contacted','contacted','contacted','contacted',
                'contacted','contacted','contacted','contacted','contacted','contacted',
                'contacted','engaged','engaged','recovered','new','new','converted',
                'converted','lost'])[1 + (g / 3) % 20] AS status
            FROM generate_series(1, :count) AS g
        ) AS numbered
    ) AS timed
) AS leads_to_be
"""

# What a pass at :at must mark, counted without the code under test.
EXPECTED_SQL = """
SELECT count(*) FROM leads JOIN tenants ON tenants.id = leads.tenant_id
WHERE leads.status IN ('contacted', 'engaged', 'recovered')
  AND leads.last_outbound_at <= :at - make_interval(hours =>
        coalesce((tenants.silence_overrides ->> leads.temperature)::int,
                 tenants.silence_threshold_hours))
  AND (leads.last_inbound_at IS NULL OR leads.last_inbound_at < leads.last_outbound_at)
  AND (leads.snoozed_until IS NULL OR leads.snoozed_until <= :at)
"""


def _point_app_at(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    from recovery_app import db
    from recovery_app.settings import reload_settings

    reload_settings()
    db.reset_engine()


def _seed(leads: int) -> list[int]:
    from recovery_app.db import get_engine, session_scope
    from recovery_app.models import Tenant

    with session_scope() as session:
        offices = [
            Tenant(
                name=f"Office {n}",
                location_id=f"bench-silence-{n}",
                timezone="America/Chicago",
                silence_threshold_hours=hours,
                silence_overrides=overrides,
            )
            for n, (hours, overrides) in enumerate(OFFICES)
        ]
        session.add_all(offices)
        session.flush()
        tenant_ids = [int(office.id) for office in offices if office.id is not None]
        session.execute(text(LEADS_SQL), {"now": NOW, "count": leads, "tenant_ids": tenant_ids})
    # What autovacuum would have done to a table this old: statistics and a visibility map.
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) leads"))
        conn.execute(text("VACUUM (ANALYZE) activities"))
    return tenant_ids


def _count(sql: str, **params: object) -> int:
    from recovery_app.db import get_engine

    with get_engine().connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _server_version() -> str:
    from recovery_app.db import get_engine

    with get_engine().connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]


def _detection_run(at: datetime) -> dict:
    """One `detect_silent_leads` job run as the scheduler does it: capped passes, each its own
    transaction, until the backlog is gone (or the job's time budget is spent)."""
    from recovery_app.db import session_scope
    from recovery_app.domain.campaigns.silence import MAX_CHANGES_PER_PASS, detect_silent_leads
    from recovery_app.jobs.registry import SILENCE_BUDGET_SECONDS

    expected = _count(EXPECTED_SQL, at=at)
    passes: list[float] = []
    marked = woken = 0
    started = time.perf_counter()
    while True:
        began = time.perf_counter()
        with session_scope() as session:  # includes the commit, as the job's passes do
            result = detect_silent_leads(session, at)
        passes.append(time.perf_counter() - began)
        marked, woken = marked + result["marked_silent"], woken + result["unsilenced"]
        if not result["backlog"] or time.perf_counter() - started > SILENCE_BUDGET_SECONDS:
            break
    seconds = time.perf_counter() - started
    assert marked == expected, (marked, expected)
    return {
        "at": at.isoformat(),
        "seconds": round(seconds, 2),
        "passes": len(passes),
        "cap_per_pass": MAX_CHANGES_PER_PASS,
        "slowest_pass_seconds": round(max(passes), 2),
        "marked_silent": marked,
        "unsilenced": woken,
        "every_pass_within_target": max(passes) < TARGET_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_SILENCE_DATABASE_URL", PG_URL)
    fresh_database(url)
    _point_app_at(url)
    migrate()

    started = time.perf_counter()
    _seed(args.leads)
    seed_seconds = time.perf_counter() - started
    print(f"  {args.leads:,} leads loaded and analyzed in {seed_seconds:.1f} s")

    passes = []
    for label, at in (("first", NOW), ("next, 5 min later", NOW + timedelta(minutes=5))):
        result = _detection_run(at)
        passes.append({"run": label, **result})
        print(
            f"  {label} run: {result['marked_silent']:,} marked silent, "
            f"{result['unsilenced']:,} woken, {result['seconds']} s in {result['passes']} "
            f"pass(es), slowest {result['slowest_pass_seconds']} s"
        )
    by_status = {
        status: _count("SELECT count(*) FROM leads WHERE status = :s", s=status)
        for status in ("new", "contacted", "engaged", "recovered", "silent", "converted", "lost")
    }
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "database": f"PostgreSQL {_server_version()}",
        "what": "the detect_silent_leads job: capped passes (one statement per office each), "
        "each committed, until nothing is left",
        "leads": args.leads,
        "offices": [{"threshold_hours": h, "overrides": o} for h, o in OFFICES],
        "seed_seconds": round(seed_seconds, 1),
        "runs": passes,
        "leads_by_status_after": by_status,
        "status_changed_activities": _count(
            "SELECT count(*) FROM activities WHERE kind = 'status_changed'"
        ),
        "target_seconds": TARGET_SECONDS,
    }
    save(RESULTS, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
