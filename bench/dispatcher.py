"""Dispatcher throughput: queued SMS -> compliance guard -> the real Twilio SDK -> a local
Twilio-speaking server, with pacing disabled. Measures messages per second end to end
(claim, guard, HTTP, bookkeeping), with 1 and 4 dispatchers on PostgreSQL and 1 on SQLite.
Each dispatcher runs in a process of its own, as each back-end worker does in production.

    .venv/bin/python -m bench.dispatcher [--messages 2000]

Results go to bench/results/dispatcher.json; the README quotes them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.common import fresh_database, machine, migrate, save

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "dispatcher.json"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench_dispatch"
NOON = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)  # inside every sending window
LEADS = 500


def _fresh_database(url: str) -> None:
    if make_url(url).get_backend_name() == "postgresql":
        fresh_database(url)


def _point_app_at(url: str, twilio_url: str) -> None:
    os.environ.update(
        DATABASE_URL=url,
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="bench-token",
        TWILIO_FROM_NUMBER="+15125550100",
        TWILIO_API_BASE_URL=twilio_url,
        # Not the default (1 a second): this measures how fast the dispatcher itself gets
        # through an outbox (its CPU and database cost), which pacing would hide behind sleeps.
        # Pacing at the default is bench/speed_to_lead.py's.
        SMS_PER_SECOND_PER_NUMBER="0",
        APP_BASE_URL="https://leads.example.com",
    )
    from recovery_app import db
    from recovery_app.settings import reload_settings

    reload_settings()
    db.reset_engine()


def _queue(messages: int, run: str) -> None:
    from recovery_app.db import session_scope
    from recovery_app.models import Direction, Lead, Message, MessageCategory, MessageStatus, Tenant

    with session_scope() as session:
        tenant = Tenant(
            name=f"Bench {run}",
            location_id=f"bench-{run}",
            timezone="America/Chicago",
            sender_phone="+15125550100",
        )
        session.add(tenant)
        session.flush()
        leads = [
            Lead(
                tenant_id=tenant.id,
                phone=f"+1737{run[-3:]}{n:04d}",
                consent_sms=True,
                timezone="America/Chicago",
                created_at=NOON,
                updated_at=NOON,
                last_activity_at=NOON,
            )
            for n in range(LEADS)
        ]
        session.add_all(leads)
        session.flush()
        session.add_all(
            Message(
                tenant_id=tenant.id,
                lead_id=leads[n % LEADS].id,
                channel="sms",
                direction=Direction.OUTBOUND,
                category=MessageCategory.CONVERSATIONAL,
                status=MessageStatus.QUEUED,
                to_address=leads[n % LEADS].phone,
                body=f"Hi, following up on your question ({run}-{n}).",
                idempotency_key=f"bench:{run}:{n}",
                next_attempt_at=NOON,
                created_at=NOON,
                updated_at=NOON,
            )
            for n in range(messages)
        )


def _dispatch_process(env: dict[str, str], worker: int, ready, start, results) -> None:
    """One back-end worker's dispatcher, in a process of its own (as in production)."""
    os.environ.update(env)
    from recovery_app.messaging.dispatcher import Dispatcher
    from recovery_app.messaging.pacing import Pacer

    dispatcher = Dispatcher(f"bench-{worker}", batch_size=50, pacer=Pacer(), clock=lambda: NOON)
    ready.wait()  # everyone imported and connected: the clock starts now
    start.wait()
    results.put(dispatcher.drain().sent)


def _run(dispatchers: int, messages: int, twilio) -> dict:
    import multiprocessing

    run = f"{time.time_ns() % 10_000_000:07d}"
    _queue(messages, run)
    before = len(twilio.messages)
    context = multiprocessing.get_context("spawn")
    ready, start = context.Barrier(dispatchers + 1), context.Barrier(dispatchers + 1)
    results = context.Queue()
    env = {k: v for k, v in os.environ.items() if k.isupper()}
    processes = [
        context.Process(target=_dispatch_process, args=(env, n, ready, start, results))
        for n in range(dispatchers)
    ]
    for process in processes:
        process.start()
    ready.wait()
    started = time.perf_counter()
    start.wait()
    sent = [results.get(timeout=600) for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    received = len(twilio.messages) - before
    assert received == sum(sent) == messages, (received, sent, messages)
    return {
        "dispatchers": dispatchers,
        "messages": messages,
        "seconds": round(seconds, 2),
        "messages_per_second": round(messages / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.fakes.providers import FakeTwilio

    twilio = FakeTwilio()
    results = []
    pg_url = os.environ.get("BENCH_DISPATCH_DATABASE_URL", PG_URL)
    _fresh_database(pg_url)
    _point_app_at(pg_url, twilio.url)
    migrate()
    for dispatchers in (1, 4):
        result = _run(dispatchers, args.messages, twilio) | {"database": "postgresql"}
        print(
            f"  PostgreSQL, {dispatchers} dispatcher(s): {result['messages_per_second']} messages/s"
        )
        results.append(result)
    with tempfile.TemporaryDirectory() as tmp:
        _point_app_at(f"sqlite:///{tmp}/bench.db", twilio.url)
        migrate()
        result = _run(1, args.messages, twilio) | {"database": "sqlite"}
        print(f"  SQLite, 1 dispatcher: {result['messages_per_second']} messages/s")
        results.append(result)
    twilio.close()
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "what": "queued SMS through guard + twilio SDK to a local Twilio-speaking server, pacing off",
        "runs": results,
    }
    save(RESULTS, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
