"""Lead intake under load, on the production server: signed webhook posts at a fixed rate
(open loop: each request leaves at its scheduled time whether or not earlier ones have been
answered, and its latency counts from that time), with Twilio and SendGrid played by local
HTTP servers in a process of their own.

Measures, on PostgreSQL with `reflex run --env prod` (Redis on, so CPUs + 1 Granian workers
unless GRANIAN_WORKERS says otherwise, each with its own outbox dispatcher):
  1. 50 leads/s for 60 s: errors, response latency, and speed to lead - the time from the
     server receiving the webhook (the lead's `created_at`) to its first-response SMS request
     arriving at the local Twilio server;
  2. the highest sustained rate: steps of 20 s at rising rates until a step has an error or
     its p99 response latency passes 1 s;
  3. the floor: the same requests against a Starlette endpoint that only inserts the row
     (bench/intake_floor.py), under Granian with the same worker count; our highest rate as a
     fraction of the floor's.

    .venv/bin/python -m bench.intake [--rate 50] [--seconds 60]

Results go to bench/results/intake.json; the README quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import fresh_database, machine, migrate, reference_ms, steal_ticks

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake.json"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench_intake"
REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = "bench-webhook-secret"
LOCATION = "bench-intake"
LOAD_PROCESSES = 2  # one async client process per core keeps the load generator off the path
STEP_SECONDS = 20
STEP_RATES = (20, 30, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500, 650, 800, 1000)
MAX_P99_SECONDS = 1.0
AREA_CODES = (
    "512", "737", "210", "214", "469", "713", "281", "832", "972", "817",
    "303", "720", "415", "650", "206", "425", "305", "786", "404", "678",
)  # fmt: skip


# ------------------------------------------------------------------------------ set-up
def _app_env(
    twilio_url: str, sendgrid_url: str, database_url: str = PG_URL, redis_url: str = REDIS_URL
) -> dict[str, str]:
    from tests.e2e.server import app_env

    return app_env(
        database_url,
        REDIS_URL=redis_url,
        LEAD_WEBHOOK_SECRET=SECRET,
        SECRET_KEY="bench-secret-key-for-sessions-and-unsubscribe-links",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="bench-token",
        TWILIO_FROM_NUMBER="+15125550100",
        TWILIO_API_BASE_URL=twilio_url,
        SENDGRID_API_KEY="SG.bench",
        SENDGRID_FROM_EMAIL="hello@harborview.example",
        SENDGRID_API_BASE_URL=sendgrid_url,
        # SMS_PER_SECOND_PER_NUMBER stays at its default (1): the first texts measured here
        # are not paced (messaging/pacing.py), only marketing is.
        # The per-tenant intake limit (default 6,000/min) would cut the rate search short.
        INTAKE_RATE_PER_MINUTE="100000000",
        APP_BASE_URL="https://leads.example.com",
        DEMO_MODE="0",
    )


def _prepare(env: dict[str, str]) -> None:
    """Migrate, then one tenant with five agents on shift around the clock."""
    os.environ.update(env)
    from recovery_app import db
    from recovery_app.models import Role, Tenant, User
    from recovery_app.settings import reload_settings

    reload_settings()
    db.reset_engine()
    migrate()
    all_day = {day: ["00:00", "23:59"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with db.session_scope() as session:
        tenant = Tenant(
            name="Bench Realty",
            location_id=LOCATION,
            timezone="America/Chicago",
            sender_phone="+15125550100",
            postal_address="100 Congress Ave, Austin, TX 78701",
        )
        session.add(tenant)
        session.flush()
        for n, specialty in enumerate(("buyers", "sellers", "luxury", "rentals", "buyers")):
            session.add(
                User(
                    tenant_id=tenant.id,
                    email=f"agent{n}@bench.example",
                    full_name=f"Bench Agent {n}",
                    role=Role.AGENT,
                    capacity=1_000_000,
                    specialties=[specialty],
                    working_hours=all_day,
                    timezone="UTC",
                )
            )
    with db.get_engine().begin() as conn:
        from bench.intake_floor import SCHEMA

        conn.execute(text(SCHEMA))


def _midday_zone() -> str:
    """A time zone where it is early afternoon now, so quiet hours never hold the first SMS."""
    offset = 14 - datetime.now(UTC).hour
    offset = max(-12, min(14, offset if offset <= 14 else offset - 24))
    # Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


# ------------------------------------------------------------------- Twilio and SendGrid
def _providers(conn) -> None:
    """Both fake providers, in a process of their own; answers commands over a pipe."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.providers import FakeSendGrid, FakeTwilio

    twilio, sendgrid = FakeTwilio(), FakeSendGrid()
    conn.send((twilio.url, sendgrid.url))
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(len(twilio.messages))
        elif command == "arrivals":
            with twilio.lock:
                conn.send({m["To"]: m["received_at"] for m in twilio.messages})
        elif command == "emails":
            conn.send(len(sendgrid.mails))
        else:
            twilio.close()
            sendgrid.close()
            conn.send("bye")
            return


def start_providers():
    """The fake Twilio and SendGrid process: (its pipe, the process, Twilio's URL, SendGrid's)."""
    context = multiprocessing.get_context("spawn")
    providers, child = context.Pipe()
    process = context.Process(target=_providers, args=(child,), daemon=True)
    process.start()
    twilio_url, sendgrid_url = providers.recv()
    return providers, process, twilio_url, sendgrid_url


def stop_providers(providers, process=None) -> None:
    """Stop the fake providers' servers (the child answers once they are down); with the
    process, wait for it to exit too."""
    providers.send("stop")
    providers.recv()
    if process is not None:
        process.join(timeout=10)


def production_workers() -> int:
    """The server's workers: the app's own rule (GRANIAN_WORKERS, else CPUs + 1 with Redis),
    as `reflex run --env prod` applies it through rxconfig."""
    from recovery_app.settings import Settings

    return Settings(redis_url=REDIS_URL).production_workers()


# -------------------------------------------------------------------------- the load
# Every lead of a run is a new person: numbers continue across runs (a repeated number would be
# merged into the earlier lead, which is intake's dedupe, not what the load is meant to measure).
_NEXT_NUMBER = 0


def _bodies(run: str, count: int, zone: str) -> list[tuple[bytes, dict[str, str]]]:
    import phonenumbers

    global _NEXT_NUMBER
    out = []
    n = _NEXT_NUMBER
    while len(out) < count:
        area, rest = AREA_CODES[n // 10_000 % len(AREA_CODES)], n % 10_000
        n += 1
        phone = f"+1{area}555{rest:04d}"
        if not phonenumbers.is_valid_number(phonenumbers.parse(phone)):
            continue
        body = json.dumps(
            {
                "location_id": LOCATION,
                "first_name": "Bench",
                "last_name": f"Lead {run}-{len(out)}",
                "email": f"bench.{run}.{len(out)}@example.com",
                "phone": phone,
                "source": "web_form",
                "message": "Pre-approved, looking at 3-bed homes, moving in 2 months",
                "timezone": zone,
                "consent": {"sms": True, "email": True},
                "external_id": f"bench-{run}-{len(out)}",
                "value": 450_000 + 1_000 * (len(out) % 300),
            }
        ).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        out.append((body, {"Content-Type": "application/json", "X-Signature-256": signature}))
    _NEXT_NUMBER = n
    return out


async def _fire(url: str, bodies: list, rate: float, start_at: float, phase: float) -> list:
    import httpx

    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int, body: bytes, headers: dict[str, str]) -> tuple[float, float, int]:
            scheduled = start_at + phase + i / rate
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                status = (await client.post(url, content=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = 0
            return scheduled, time.time(), status

        return await asyncio.gather(*(one(i, b, h) for i, (b, h) in enumerate(bodies)))


def _load_process(url, bodies, rate, start_at, phase, results) -> None:
    results.put(asyncio.run(_fire(url, bodies, rate, start_at, phase)))


def _step(url: str, rate: float, seconds: float, run: str, zone: str) -> dict[str, Any]:
    """`rate` posts a second for `seconds`, split over LOAD_PROCESSES client processes."""
    bodies = _bodies(run, int(rate * seconds), zone)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3  # every process imported and waiting
    share = rate / LOAD_PROCESSES
    processes = [
        context.Process(
            target=_load_process,
            args=(url, bodies[k::LOAD_PROCESSES], share, start_at, k / rate, results),
        )
        for k in range(LOAD_PROCESSES)
    ]
    for process in processes:
        process.start()
    samples = [s for _ in processes for s in results.get(timeout=seconds + 120)]
    for process in processes:
        process.join()
    latencies = sorted(done - scheduled for scheduled, done, _ in samples)
    statuses: dict[str, int] = {}
    for _, _, status in samples:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    errors = sum(n for s, n in statuses.items() if not s.startswith("2"))
    elapsed = max(done for _, done, _ in samples) - start_at
    return {
        "offered_per_second": rate,
        "seconds": seconds,
        "requests": len(samples),
        "errors": errors,
        "statuses": statuses,
        "completed_per_second": round(len(samples) / elapsed, 1),
        "latency_ms": _percentiles(latencies),
        "sustained": errors == 0 and _quantile(latencies, 0.99) <= MAX_P99_SECONDS,
    }


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _percentiles(seconds: list[float]) -> dict[str, float]:
    values = sorted(seconds)
    return {
        "p50": round(_quantile(values, 0.50) * 1000, 1),
        "p95": round(_quantile(values, 0.95) * 1000, 1),
        "p99": round(_quantile(values, 0.99) * 1000, 1),
        "max": round(values[-1] * 1000, 1),
        "mean": round(statistics.fmean(values) * 1000, 1),
    }


def _search(
    url: str, zone: str, label: str, rates: list[float], seconds: float, *, drain: bool = False
) -> tuple[float, list[dict[str, Any]]]:
    """Rising rates until one is not sustained; the last sustained rate."""
    best, steps = 0.0, []
    for rate in rates:
        if drain:
            _drain_outbox()
        step = _step(url, rate, seconds, f"{label}{rate:g}", zone)
        steps.append(step)
        print(
            f"    {label} {rate}/s: {step['completed_per_second']}/s done, "
            f"errors {step['errors']}, p99 {step['latency_ms']['p99']} ms"
        )
        if not step["sustained"]:
            break
        best = rate
    return best, steps


def _drain_outbox(limit: float = 120) -> None:
    """Wait until the previous step's messages are sent, so each step starts from an idle
    server rather than inheriting a backlog."""
    from recovery_app.db import session_scope

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with session_scope() as session:
            waiting = session.execute(
                text("SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')")
            ).scalar_one()
        if not waiting:
            return
        time.sleep(1)


# ------------------------------------------------------------------------ CPU by role
def _cpu_by_role(server_group: int, provider_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part of the run: the app server's
    processes, PostgreSQL, Redis, the fake providers, the load generator (this script and its
    finished children) and whatever else runs on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    own = os.times()
    roles = {"load generator": own.user + own.system + own.children_user + own.children_system}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the command: state, parent, process group ... utime and stime at 11 and 12.
        group, cpu = int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        if group == server_group:
            role = "app server"
        elif int(entry.name) == provider_pid:
            role = "fake Twilio and SendGrid"
        elif "postgres" in command:
            role = "PostgreSQL"
        elif "redis" in command:
            role = "Redis"
        elif int(fields[1]) == os.getpid():
            role = "load generator"  # a load process still running
        else:
            role = "other processes on the machine"
        roles[role] = roles.get(role, 0.0) + cpu
    return roles


def _stolen_percent(ticks_before: int, started: float) -> float:
    """The share of the machine's CPU time since `started` that the hypervisor gave to other
    guests: above a few percent, the run measured a crowded host, not our code."""
    elapsed = (time.monotonic() - started) * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
    return round((steal_ticks() - ticks_before) * 100 / elapsed, 1) if elapsed else 0.0


def _cpu_per_lead(before: dict[str, float], after: dict[str, float], leads: int) -> dict:
    """Milliseconds of CPU per lead by role between two `_cpu_by_role` readings."""
    return {
        role: round((after.get(role, 0.0) - before.get(role, 0.0)) * 1000 / leads, 1)
        for role in sorted(set(before) | set(after))
    }


# -------------------------------------------------------------------- speed to lead
def _speed_to_lead(providers, run: str, expected: int) -> dict[str, Any]:
    """Lead received (its created_at) -> its first SMS request at the local Twilio server."""
    from recovery_app.db import session_scope

    with session_scope() as session:
        received = dict(
            session.execute(
                text("SELECT phone, created_at FROM leads WHERE email LIKE :pattern"),
                {"pattern": f"bench.{run}.%"},
            ).all()
        )
    return speed_to_lead(providers, received, expected)


def speed_to_lead(
    providers, received: dict[str, datetime], expected: int, *, wait: float = 120
) -> dict[str, Any]:
    """Each stored lead's time (phone -> when it was stored) to its SMS request's arrival at
    the local Twilio server, waiting up to `wait` seconds for the last ones."""
    deadline = time.monotonic() + wait
    # Posts the client gave up on (timeouts) may still have been stored: count what is there.
    arrivals: dict[str, float] = {}
    while time.monotonic() < deadline:
        providers.send("arrivals")
        arrivals = providers.recv()
        if all(phone in arrivals for phone in received):
            break
        time.sleep(1)
    delays = [
        arrivals[phone] - created.replace(tzinfo=created.tzinfo or UTC).timestamp()
        for phone, created in received.items()
        if phone in arrivals
    ]
    if not delays:
        return {"leads_posted": expected, "leads_stored": len(received), "sms_arrived": 0}
    return {
        "leads_posted": expected,
        "leads_stored": len(received),
        "sms_arrived": len(delays),
        "seconds": {
            "p50": round(_quantile(sorted(delays), 0.50), 3),
            "p95": round(_quantile(sorted(delays), 0.95), 3),
            "p99": round(_quantile(sorted(delays), 0.99), 3),
            "max": round(max(delays), 3),
        },
    }


# ------------------------------------------------------------------------------- main
def _floor(
    workers: int, zone: str, rates: list[float], seconds: float
) -> tuple[float, list[dict[str, Any]]]:
    from tests.e2e.server import free_port

    port = free_port()
    env = dict(os.environ, BENCH_FLOOR_DATABASE_URL=PG_URL)
    server = subprocess.Popen(
        granian_command("bench.intake_floor:app", workers, port),
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/webhooks/leads"
        _wait_for(url)
        _step(url, 20, 5, "floorwarm", zone)
        return _search(url, zone, "floor", rates, seconds)
    finally:
        os.killpg(server.pid, 9)
        server.wait()


def granian_command(app: str, workers: int, port: int) -> list[str]:
    """Granian serving the ASGI `app` ("module:attribute") on 127.0.0.1:`port`."""
    return [
        str(Path(sys.executable).parent / "granian"),
        "--interface",
        "asgi",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        app,
    ]


def _wait_for(url: str) -> None:
    import httpx

    for _ in range(120):
        try:
            httpx.post(url, content=b"{}", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise TimeoutError(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--steps", default=",".join(map(str, STEP_RATES)), help="rates tried in the search"
    )
    parser.add_argument("--step-seconds", type=float, default=STEP_SECONDS)
    parser.add_argument(
        "--steady-only",
        action="store_true",
        help="only the fixed-rate run, printed and not written (a quick check while tuning)",
    )
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.steps.split(",")]
    sys.path.insert(0, str(ROOT))
    from tests.e2e.server import ReflexServer

    workers = production_workers()
    zone = _midday_zone()
    providers, provider_process, twilio_url, sendgrid_url = start_providers()
    env = _app_env(twilio_url, sendgrid_url)
    fresh_database(PG_URL)
    _prepare(env)
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cpu_reference_ms": reference_ms(),
        "server": f"reflex run --env prod (Granian, {workers} workers, Redis), PostgreSQL",
        "load": f"open loop from {LOAD_PROCESSES} httpx processes; HMAC-signed JSON bodies",
        "sustained_means": f"no error and p99 response latency <= {MAX_P99_SECONDS} s",
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = ReflexServer(env, Path(tmp) / "reflex.log", prod=True)
        try:
            server.wait_ready(path="/login", timeout=900)
            url = f"{server.api_url}/api/v1/webhooks/leads"
            print("  warm-up")
            _step(url, 20, 10, "warm", zone)
            print(f"  {args.rate:g} leads/s for {args.seconds:g} s")
            before = _cpu_by_role(server.process.pid, provider_process.pid)
            stolen, started = steal_ticks(), time.monotonic()
            steady = _step(url, args.rate, args.seconds, "steady", zone)
            steady["cpu_stolen_percent"] = _stolen_percent(stolen, started)
            print(f"    answers {steady['statuses']}")
            steady["speed_to_lead"] = _speed_to_lead(
                providers, "steady", int(args.rate * args.seconds)
            )
            _drain_outbox()
            steady["cpu_ms_per_lead"] = _cpu_per_lead(
                before,
                _cpu_by_role(server.process.pid, provider_process.pid),
                steady["requests"],
            )
            print(f"    CPU ms per lead {steady['cpu_ms_per_lead']}")
            print(f"    CPU stolen by other guests {steady['cpu_stolen_percent']} %")
            print(f"    errors {steady['errors']}, latency {steady['latency_ms']}")
            print(f"    speed to lead {steady['speed_to_lead']}")
            report["steady"] = steady
            if args.steady_only:
                return 0
            print("  highest sustained rate")
            best, steps = _search(url, zone, "ours", rates, args.step_seconds, drain=True)
            report["ours"] = {"max_sustained_per_second": best, "steps": steps}
        finally:
            server.stop()
            if args.steady_only:
                stop_providers(providers)
    print("  floor")
    floor_best, floor_steps = _floor(workers, zone, rates, args.step_seconds)
    report["floor"] = {"max_sustained_per_second": floor_best, "steps": floor_steps}
    report["fraction_of_floor"] = round(best / floor_best, 3) if floor_best else None
    stop_providers(providers)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"  ours {best:g}/s, floor {floor_best:g}/s -> {report['fraction_of_floor']} of the floor"
    )
    print(f"Written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
