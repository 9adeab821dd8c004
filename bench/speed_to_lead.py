"""Speed to lead at the defaults a user gets, while a campaign is going out.

The production server (deploy/serve.sh on the pages `make build` exported: PostgreSQL, Redis,
CPUs + 1 workers) for one office made as `recovery create-tenant` makes it (no number of its
own: it texts from TWILIO_FROM_NUMBER), with Twilio and SendGrid played by local servers.
SMS_PER_SECOND_PER_NUMBER stays at its default (1): the campaign is paced, the first texts
are not (messaging/pacing.py).

  1. A campaign of 5,000 texts falls due at once (queued straight into the outbox for 5,000
     leads who agreed to texts, in a time zone where it is early afternoon).
  2. The burst: 100 new leads in 400 signed posts at concurrency 10 - each lead posted, its
     post replayed, re-submitted with a new message, and that replayed.
  3. Sustained: 50 new leads a second for 60 s, the campaign still due.
  4. The campaign's drain: on one number its pace while nothing else is sent (5,000 texts at
     1 a second take 83 minutes: projected from 120 s of it), and with N shared numbers
     (--drain-pool N, TWILIO_FROM_NUMBERS) measured to its last text.

Speed to lead is the time from the lead's row being stored (created_at) to its first SMS
request reaching the local Twilio server.

    .venv/bin/python -m bench.speed_to_lead [--campaign 5000] [--drain-pool 10]

Results go to bench/results/speed_to_lead.json; the README quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import fresh_database, machine, migrate, reference_ms, save
from bench.intake import _midday_zone, _quantile, start_providers, stop_providers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "speed_to_lead.json"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench_speed"
REDIS_URL = "redis://127.0.0.1:6379/12"
SECRET = "bench-webhook-secret"
LOCATION = "bench-speed"
NUMBER = "+15125550100"
# What this bench sets, and why; everything else is the default.
SETTINGS_CHANGED = {
    "DATABASE_URL": "PostgreSQL, as production runs",
    "REDIS_URL": "Redis, as production runs (several workers)",
    "SECRET_KEY": "required in production",
    "LEAD_WEBHOOK_SECRET": "the posts are HMAC-signed lead webhooks",
    "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER": "texts go through Twilio",
    "TWILIO_API_BASE_URL, SENDGRID_API_BASE_URL": "the local fake providers",
    "SENDGRID_API_KEY, SENDGRID_FROM_EMAIL": "emails go through SendGrid",
    "APP_BASE_URL": "the public address the status callbacks name",
}


# ------------------------------------------------------------------------------ set-up
def _env(twilio_url: str, sendgrid_url: str, **extra: str) -> dict[str, str]:
    from tests.e2e.server import BIN

    # Not tests.e2e.server.app_env, which starts from os.environ: a setting exported in the
    # shell (SMS_PER_SECOND_PER_NUMBER, say) would change the run without being recorded.
    env = {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": PG_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "bench-secret-key-for-sessions-and-unsubscribe-links",
        "LEAD_WEBHOOK_SECRET": SECRET,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_FROM_NUMBER": NUMBER,
        "TWILIO_API_BASE_URL": twilio_url,
        "SENDGRID_API_KEY": "SG.bench",
        "SENDGRID_FROM_EMAIL": "hello@harborview.example",
        "SENDGRID_API_BASE_URL": sendgrid_url,
        "APP_BASE_URL": "https://leads.example.com",
    }
    return env | extra


def _prepare(env: dict[str, str], campaign: int, zone: str) -> None:
    """Migrate; the office as `recovery create-tenant` makes it, five agents on shift, and
    the campaign's leads."""
    os.environ.update(env)
    from recovery_app import db
    from recovery_app.models import Lead, LeadStatus, Role, Temperature, Tenant, User
    from recovery_app.settings import reload_settings

    reload_settings()
    db.reset_engine()
    migrate()
    subprocess.run(
        [sys.executable, "-m", "recovery_app.cli", "create-tenant", "--name", "Bench Realty",
         "--location-id", LOCATION, "--timezone", "America/Chicago"],
        env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    all_day = {d: ["00:00", "23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with db.session_scope() as session:
        tenant = session.execute(
            text("SELECT id FROM tenants WHERE location_id = :l"), {"l": LOCATION}
        ).scalar_one()
        office = session.get(Tenant, tenant)
        assert office is not None and office.sender_phone is None
        office.postal_address = "100 Congress Ave, Austin, TX 78701"  # marketing email needs it
        for n in range(5):
            session.add(
                User(
                    tenant_id=tenant,
                    email=f"agent{n}@bench.example",
                    full_name=f"Bench Agent {n}",
                    role=Role.AGENT,
                    capacity=1_000_000,
                    working_hours=all_day,
                    timezone="UTC",
                )
            )
        session.flush()
        now = datetime.now(UTC)
        # The campaign's audience: leads who agreed to texts.
        session.add_all(
            Lead(
                tenant_id=tenant,
                first_name="Camp",
                last_name=f"Lead {n}",
                phone=f"+1737555{n:04d}",
                email=f"camp{n}@example.com",
                status=LeadStatus.SILENT,
                score=40,
                temperature=Temperature.WARM,
                consent_sms=True,
                consent_email=True,
                timezone=zone,
                created_at=now,
                updated_at=now,
                last_activity_at=now,
            )
            for n in range(campaign)
        )


def _queue_campaign(campaign: int) -> float:
    """The campaign falls due: one marketing text per audience lead, all due now. When."""
    from recovery_app import db

    with db.session_scope() as session:
        session.execute(
            text(
                "INSERT INTO messages (tenant_id, lead_id, channel, direction, category, status,"
                " to_address, body, idempotency_key, attempts, next_attempt_at, created_at,"
                " updated_at)"
                " SELECT tenant_id, id, 'sms', 'outbound', 'marketing', 'queued', phone,"
                " 'Open house this Saturday, 1-4 pm. Want the address? Reply STOP to opt out.',"
                " 'bench-campaign:' || id, 0, now(), now(), now()"
                " FROM leads WHERE first_name = 'Camp' LIMIT :n"
            ),
            {"n": campaign},
        )
    return time.time()


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen:
    from tests.e2e.server import free_port

    port = free_port()
    env = env | {"PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(log.parent / "metrics")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "deploy/serve.sh")], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(process.url + "/api/v1/health", timeout=3).status_code == 200:  # type: ignore[attr-defined]
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(log.read_text()[-3000:])


# -------------------------------------------------------------------------- the posts
def _lead_body(run: str, n: int, zone: str, message: str, external: str) -> bytes:
    return json.dumps(
        {
            "location_id": LOCATION,
            "first_name": "New",
            "last_name": f"Lead {run}-{n}",
            "email": f"new.{run}.{n}@example.com",
            "phone": f"+1512{run_code(run)}{n:04d}",
            "source": "web_form",
            "message": message,
            "timezone": zone,
            "consent": {"sms": True, "email": True},
            "external_id": external,
        }
    ).encode()


def run_code(run: str) -> str:
    return {"burst": "666", "steady": "777"}[run]


def _signed(body: bytes) -> dict[str, str]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Signature-256": signature}


async def _burst(url: str, leads: int, zone: str) -> dict[str, int]:
    """400 posts for 100 leads at concurrency 10: each posted, replayed, re-submitted (a new
    external id and message: the same person, merged) and that replayed, in shuffled order."""
    import httpx

    posts = []
    for n in range(leads):
        first = _lead_body("burst", n, zone, "Looking at 3-bed homes", f"burst-{n}")
        again = _lead_body("burst", n, zone, "Also want a pool", f"burst-{n}-resubmit")
        posts += [first, first, again, again]
    random.Random(7).shuffle(posts)
    statuses: dict[str, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in posts:
        queue.put_nowait(body)
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                status = (await client.post(url, content=body, headers=_signed(body))).status_code
                statuses[str(status)] = statuses.get(str(status), 0) + 1

        await asyncio.gather(*(worker() for _ in range(10)))
    return statuses


async def _steady(url: str, rate: float, seconds: float, zone: str) -> dict[str, Any]:
    import httpx

    count = int(rate * seconds)
    start = time.time() + 1
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(n: int) -> tuple[float, int]:
            scheduled = start + n / rate
            if (delay := scheduled - time.time()) > 0:
                await asyncio.sleep(delay)
            body = _lead_body("steady", n, zone, "Pre-approved, moving in 2 months", f"s-{n}")
            try:
                status = (await client.post(url, content=body, headers=_signed(body))).status_code
            except httpx.HTTPError:
                status = 0
            return time.time() - scheduled, status

        results = await asyncio.gather(*(one(n) for n in range(count)))
    latencies = sorted(r[0] for r in results)
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "posts": count,
        "statuses": statuses,
        "response_ms": {
            "p50": round(_quantile(latencies, 0.5) * 1000, 1),
            "p99": round(_quantile(latencies, 0.99) * 1000, 1),
        },
    }


# -------------------------------------------------------------------- measurements
def _speed(providers, run: str, wait: float = 120) -> dict[str, Any]:
    """Lead stored -> its first SMS at the fake Twilio, for the leads of `run`."""
    from recovery_app.db import session_scope

    with session_scope() as session:
        received = dict(
            session.execute(
                text("SELECT phone, created_at FROM leads WHERE email LIKE :p"),
                {"p": f"new.{run}.%"},
            ).all()
        )
    deadline = time.monotonic() + wait
    arrivals: dict[str, float] = {}
    while time.monotonic() < deadline:
        providers.send("arrivals")
        arrivals = providers.recv()
        if all(phone in arrivals for phone in received):
            break
        time.sleep(0.5)
    delays = sorted(
        arrivals[p] - created.timestamp() for p, created in received.items() if p in arrivals
    )
    return {
        "leads": len(received),
        "first_text_arrived": len(delays),
        "seconds": {
            "p50": round(_quantile(delays, 0.5), 3),
            "p99": round(_quantile(delays, 0.99), 3),
            "max": round(delays[-1], 3) if delays else None,
        },
    }


def _campaign_sent() -> tuple[int, float | None]:
    """How many campaign texts left, and when the last one did (epoch seconds)."""
    from recovery_app.db import session_scope

    with session_scope() as session:
        sent, last = session.execute(
            text(
                "SELECT count(*), extract(epoch FROM max(sent_at)) FROM messages"
                " WHERE idempotency_key LIKE 'bench-campaign:%' AND sent_at IS NOT NULL"
            )
        ).one()
    return int(sent), float(last) if last is not None else None


def _wait_for_campaign(limit: float = 600) -> float:
    """Seconds until the next campaign text leaves."""
    started, (before, _) = time.monotonic(), _campaign_sent()
    while _campaign_sent()[0] == before and time.monotonic() - started < limit:
        time.sleep(0.5)
    return time.monotonic() - started


def _rate_over(seconds: float) -> float:
    """Campaign texts a second over the next `seconds`."""
    before, _ = _campaign_sent()
    time.sleep(seconds)
    after, _ = _campaign_sent()
    return (after - before) / seconds


def _round(pool: int, campaign: int, zone: str, providers, urls, *, full: bool) -> dict:
    """One server run: the campaign falls due; then (full) the burst, the campaign's pace
    while nothing else is sent, and the sustained load; else the campaign's whole drain."""
    twilio_url, sendgrid_url = urls
    extra = {}
    if pool > 1:
        numbers = [f"+1512555{200 + n:04d}" for n in range(pool - 1)]
        extra["TWILIO_FROM_NUMBERS"] = ",".join(numbers)
    env = _env(twilio_url, sendgrid_url, **extra)
    fresh_database(PG_URL)
    _prepare(env, campaign, zone)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    # Each round names its own time and machine: `--only` merges it into an earlier file.
    out: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cpu_reference_ms": reference_ms(),
        "numbers": pool,
        "campaign_texts": campaign,
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = _serve(env, Path(tmp) / "serve.log")
        try:
            url = f"{server.url}/api/v1/webhooks/leads"  # type: ignore[attr-defined]
            due_at = _queue_campaign(campaign)
            if full:
                time.sleep(2)  # the dispatchers are into the campaign
                print("  burst: 100 leads in 400 posts at concurrency 10")
                out["burst"] = {"statuses": asyncio.run(_burst(url, 100, zone))}
                out["burst"]["speed_to_lead"] = _speed(providers, "burst")
                print(f"    {out['burst']}")
                print("  the campaign's pace, nothing else sending (120 s)")
                # Each first text took its number's next second: the campaign resumes once
                # the burst's seconds have passed (about 100 s after it).
                resumed_after = _wait_for_campaign()
                out["campaign_resumed_after_burst_seconds"] = round(resumed_after, 1)
                rate = _rate_over(120)
                out["campaign_texts_per_second"] = round(rate, 2)
                out["campaign_drain_projected_minutes"] = round(campaign / rate / 60, 1)
                print(f"    {rate:.2f} texts/s -> {campaign} in {campaign / rate / 60:.0f} min")
                print("  sustained: 50 leads/s for 60 s")
                sent_before, _ = _campaign_sent()
                out["sustained"] = asyncio.run(_steady(url, 50, 60, zone))
                out["sustained"]["speed_to_lead"] = _speed(providers, "steady")
                sent_after, _ = _campaign_sent()
                # Each first text takes its number's next second: 50 a second on a number that
                # sends 1 pushes the campaign back by as much (Twilio would queue them anyway).
                out["sustained"]["campaign_texts_sent_meanwhile"] = sent_after - sent_before
                print(f"    {out['sustained']}")
            else:
                print(f"  draining {campaign} texts from {pool} numbers")
                while True:
                    sent, last = _campaign_sent()
                    if sent >= campaign or time.time() - due_at > 3 * 3600:
                        break
                    time.sleep(5)
                finished = last or time.time()
                out["campaign_sent"] = sent
                out["campaign_drain_minutes"] = round((finished - due_at) / 60, 1)
                out["campaign_texts_per_second"] = round(sent / (finished - due_at), 2)
            print(f"    campaign: {out}")
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=int, default=5000)
    parser.add_argument("--drain-pool", type=int, default=10, help="numbers for the drain run")
    parser.add_argument("--only", choices=("one", "pool"), help="run one of the two rounds")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if subprocess.run(["make", "-q", "build"], cwd=ROOT).returncode != 0:
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    zone = _midday_zone()
    providers, provider_process, twilio_url, sendgrid_url = start_providers()
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cpu_reference_ms": reference_ms(),
        "server": "deploy/serve.sh (reflex --env prod --backend-only, CPUs + 1 workers), "
        "PostgreSQL, Redis",
        "settings_changed": SETTINGS_CHANGED,
        "settings_at_default": ["SMS_PER_SECOND_PER_NUMBER (1)", "INTAKE_RATE_PER_MINUTE"],
        "lead_zone": zone,
    }
    try:
        if RESULTS.exists() and args.only:
            report = json.loads(RESULTS.read_text()) | {
                k: v for k, v in report.items() if k not in ("one_number", "pool_drain")
            }
        if args.only != "pool":
            print("one number, the defaults")
            report["one_number"] = _round(
                1, args.campaign, zone, providers, (twilio_url, sendgrid_url), full=True
            )
        if args.drain_pool > 1 and args.only != "one":
            print(f"{args.drain_pool} numbers (TWILIO_FROM_NUMBERS), the campaign's drain")
            report["pool_drain"] = _round(
                args.drain_pool, args.campaign, zone, providers, (twilio_url, sendgrid_url),
                full=False,
            )  # fmt: skip
            report["pool_drain"]["setting_changed"] = {
                "TWILIO_FROM_NUMBERS": f"{args.drain_pool - 1} more shared numbers"
            }
    finally:
        stop_providers(providers, provider_process)
    save(RESULTS, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
