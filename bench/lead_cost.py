"""What one new lead costs in CPU, by process, at the defaults speed_to_lead runs with.

The set-up of bench/speed_to_lead.py (the production server, one office made by
`recovery create-tenant`, PostgreSQL, Redis, the local Twilio and SendGrid, a 5,000-text
campaign due), then leads at a rate below what the machine can take (20 a second by default),
so that the figure is the work a lead makes, not time spent queueing. The CPU seconds that each
group of processes used over the run, divided by the leads, says how many leads a second a
machine's cores can carry: on 2 cores, 50 leads a second is in reach only when the groups
together stay under 40 ms.

The server's share holds everything it does meanwhile: the lead's intake, its first text and
the status callbacks, and the dispatcher's passes over the paced campaign.

    .venv/bin/python -m bench.lead_cost [--rate 20] [--seconds 30]

Results go to bench/results/lead_cost.json. Linux only: CPU times come from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import speed_to_lead as stl
from bench.common import fresh_database, machine, reference_ms, save
from bench.intake import _midday_zone, start_providers, stop_providers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "lead_cost.json"
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(name, parent, user + system CPU seconds) of a process, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may hold spaces: the fields after its last ')' are fixed.
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _groups(server: int, providers: int) -> dict[str, set[int]]:
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p)))}
    tree = {server}
    while grown := {p for p, (_, parent, _) in stats.items() if parent in tree} - tree:
        tree |= grown
    return {
        "server": tree,
        "postgres": {p for p, s in stats.items() if s[0].startswith("postgres")},
        "redis": {p for p, s in stats.items() if s[0].startswith("redis")},
        "fake_providers": {providers},
        "bench_client": {os.getpid()},
    }


def _cpu(pids: set[int]) -> float:
    return sum(s[2] for p in pids if (s := _stat(p)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--campaign", type=int, default=5000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if subprocess.run(["make", "-q", "build"], cwd=ROOT).returncode != 0:
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    zone = _midday_zone()
    providers, provider_process, twilio_url, sendgrid_url = start_providers()
    env = stl._env(twilio_url, sendgrid_url)
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cpu_reference_ms": reference_ms(),
        "settings_changed": stl.SETTINGS_CHANGED,
        "rate_per_second": args.rate,
        "seconds": args.seconds,
        "campaign_texts": args.campaign,
    }
    try:
        fresh_database(stl.PG_URL)
        stl._prepare(env, args.campaign, zone)
        import redis

        redis.Redis.from_url(stl.REDIS_URL).flushdb()
        with tempfile.TemporaryDirectory() as tmp:
            server = stl._serve(env, Path(tmp) / "serve.log")
            try:
                stl._queue_campaign(args.campaign)
                time.sleep(8)  # start-up work done, the dispatchers into the campaign
                groups = _groups(server.pid, provider_process.pid)  # type: ignore[arg-type]
                before = {name: _cpu(pids) for name, pids in groups.items()}
                started = time.monotonic()
                url = f"{server.url}/api/v1/webhooks/leads"  # type: ignore[attr-defined]
                report["posts"] = asyncio.run(stl._steady(url, args.rate, args.seconds, zone))
                report["speed_to_lead"] = stl._speed(providers, "steady", wait=180)
                report["wall_seconds"] = round(time.monotonic() - started, 1)
                leads = int(args.rate * args.seconds)
                report["cpu_ms_per_lead"] = {
                    name: round((_cpu(pids) - before[name]) / leads * 1000, 1)
                    for name, pids in groups.items()
                }
                report["cpu_ms_per_lead"]["all"] = round(sum(report["cpu_ms_per_lead"].values()), 1)
                report["leads_per_second_the_cores_carry"] = round(
                    (os.cpu_count() or 1) * 1000 / report["cpu_ms_per_lead"]["all"], 1
                )
                print(report)
            finally:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    finally:
        stop_providers(providers, provider_process)
    save(RESULTS, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
