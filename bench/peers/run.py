"""The engine against its peers (a minimal floor and n8n) on one lead-intake workload.

The workload: a signed lead webhook -> stored -> scored -> its first SMS requested from a
local Twilio-speaking server. Three systems in one run on this machine, one at a time, each on
its own PostgreSQL database of the same server and all sending to the same fake Twilio process:

  engine  the production start (deploy/serve.sh: `reflex run --env prod --backend-only`,
          Granian, CPUs + 1 workers with Redis); it answers, then its outbox dispatchers
          send the text (and an email, which the others do not send);
  floor   bare Starlette + one psycopg INSERT + the score + the SMS request before answering
          (bench/peers/floor.py), Granian with the same worker count;
  n8n     n8n 2.41.1, Webhook -> Postgres -> Code -> HTTP Request -> Respond to Webhook
          (bench/peers/n8n_workflow.json), installed by bench/peers/setup_n8n.sh.

Each gets the same load (bench/intake.py's open-loop generator): a warm-up, a fixed run at a
rate all three sustain, then steps at rising rates until one has an error or a p99 response
over 1 s. Recorded: the highest sustained rate, response latency, speed to lead (the lead's
stored created_at -> its SMS request arriving at the fake Twilio), the memory (RSS, and PSS,
which counts pages shared between worker processes once) of each system's process tree at rest
and at its peak under load, and the load average, since the machine is shared.

    bench/peers/setup_n8n.sh                 # once: Node 24 and n8n, outside the repository
    .venv/bin/python -m bench.peers [--rate 10] [--seconds 30] [--only engine,floor,n8n]

Results go to bench/results/peers.json; the README quotes them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import machine, save
from bench.intake import (
    MAX_P99_SECONDS,
    _drain_outbox,
    _midday_zone,
    _step,
    production_workers,
    speed_to_lead,
    start_providers,
    stop_providers,
)
from bench.peers.systems import (
    N8N_HOME,
    N8N_SETTINGS,
    Engine,
    Floor,
    N8n,
    N8nLegacyExpressions,
    System,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "peers.json"
# From 5/s: on a busy machine the engine and n8n may not sustain 10.
STEP_RATES = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500)
PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------ memory
def _group_pids(group: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # After the command: state, parent, process group.
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == group:
            pids.append(int(entry.name))
    return pids


def _memory(pids: list[int]) -> tuple[int, int]:
    """RSS and PSS in bytes, summed over `pids`."""
    rss = pss = 0
    for pid in pids:
        try:
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError):
            continue  # a process that just ended
    return rss, pss


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by `pids`."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


class MemoryWatch:
    """Samples a system's process tree (and its backend part) every half second while on."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> dict[str, int]:
        pids = _group_pids(self.system.group)
        rss, pss = _memory(pids)
        backend_rss, backend_pss = _memory(self.system.backend_pids(pids))
        return {
            "processes": len(pids),
            "rss": rss,
            "pss": pss,
            "backend_rss": backend_rss,
            "backend_pss": backend_pss,
        }

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for key, value in self.now().items():
                self.peak[key] = max(self.peak.get(key, 0), value)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _memory_report(sample: dict[str, int], backend: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "processes": sample["processes"],
        "rss_mb": _mb(sample["rss"]),
        "pss_mb": _mb(sample["pss"]),
    }
    if backend:
        out["backend_rss_mb"] = _mb(sample["backend_rss"])
        out["backend_pss_mb"] = _mb(sample["backend_pss"])
    return out


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------ one system
def _measure(
    system: System, providers, zone: str, rate: float, seconds: float, rates, step_seconds: float
) -> dict[str, Any]:
    """The fixed run, then the rate search, on a started system."""
    backend = isinstance(system, Engine)

    def drain() -> None:
        """Start each run from an idle system: the engine's outbox sent, and any system's
        work left from a run it fell behind in (n8n goes on with executions whose clients
        gave up) finished - at most a minute of waiting for its CPU to fall under 10 %."""
        if system.drain_between_steps:
            _drain_outbox()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            before = _cpu_seconds(_group_pids(system.group))
            time.sleep(1)
            if _cpu_seconds(_group_pids(system.group)) - before < 0.1:
                return

    def stl(run: str, posted: int, wait: float) -> dict[str, Any]:
        return speed_to_lead(providers, system.received(run), posted, wait=wait)

    time.sleep(5)  # let start-up work settle before reading memory at rest
    watch = MemoryWatch(system)
    report: dict[str, Any] = {
        "url": system.url,
        "memory_at_rest": _memory_report(watch.now(), backend),
        "load_average_at_start": _load(),
    }
    print(f"    at rest {report['memory_at_rest']}")
    with watch:
        _step(system.url, 10, 5, f"{system.name}warm", zone)
        drain()
        cpu_before = _cpu_seconds(_group_pids(system.group))
        fixed = _step(system.url, rate, seconds, f"{system.name}fixed", zone)
        fixed["speed_to_lead"] = stl(f"{system.name}fixed", int(rate * seconds), 120)
        drain()  # the engine's texts and emails are part of each lead's cost
        # The system's own processes only (not PostgreSQL's); a run with errors spent some
        # of it on leads that were never answered.
        fixed["cpu_ms_per_lead"] = round(
            (_cpu_seconds(_group_pids(system.group)) - cpu_before) * 1000 / fixed["requests"], 1
        )
        fixed["load_average_after"] = _load()
        print(
            f"    {rate:g}/s for {seconds:g} s: errors {fixed['errors']}, "
            f"latency {fixed['latency_ms']}, speed to lead {fixed['speed_to_lead']}, "
            f"CPU {fixed['cpu_ms_per_lead']} ms per lead"
        )
        report["fixed"] = fixed
        best, steps = 0.0, []
        for step_rate in rates:
            drain()
            run = f"{system.name}{step_rate:g}"
            step = _step(system.url, step_rate, step_seconds, run, zone)
            step["load_average_after"] = _load()
            if step["sustained"]:
                # A sustained step's texts are all on their way; a failed one's may never come.
                step["speed_to_lead"] = stl(run, int(step_rate * step_seconds), 60)
            steps.append(step)
            print(
                f"    {step_rate:g}/s: {step['completed_per_second']}/s done, errors "
                f"{step['errors']}, p99 {step['latency_ms']['p99']} ms, "
                f"load {step['load_average_after'][0]}"
            )
            if not step["sustained"]:
                break
            best = step_rate
        report["max_sustained_per_second"] = best
        report["steps"] = steps
    report["memory_peak_under_load"] = _memory_report(watch.peak, backend)
    print(f"    peak {report['memory_peak_under_load']}; highest sustained {best:g}/s")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10, help="the fixed run's leads/s")
    parser.add_argument("--seconds", type=float, default=30, help="the fixed run's length")
    parser.add_argument("--steps", default=",".join(map(str, STEP_RATES)))
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument(
        "--only",
        default="engine,floor,n8n",
        help="systems to run, in order: engine, floor, n8n, n8n-legacy (n8n with "
        "N8N_EXPRESSION_ENGINE=legacy)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.steps.split(",")]
    names = args.only.split(",")
    sys.path.insert(0, str(ROOT))
    from tests.e2e.server import free_port

    workers = production_workers()  # the engine's, and so the floor's
    zone = _midday_zone()
    providers, _, twilio_url, sendgrid_url = start_providers()
    started = time.monotonic()
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join(
            ["python -m bench.peers", *(argv if argv is not None else sys.argv[1:])]
        ),
        "load": "open loop from 2 httpx processes; HMAC-signed JSON bodies; every lead a new person",
        "sustained_means": f"no error and p99 response latency <= {MAX_P99_SECONDS} s",
        "speed_to_lead_means": "the lead row's created_at -> its SMS request at the fake Twilio",
        "memory_means": "RSS and PSS summed over the system's process group (PostgreSQL, Redis "
        "and the fake Twilio not included)",
        "fixed_run": f"{args.rate:g} leads/s for {args.seconds:g} s",
        "steps": f"{args.step_seconds:g} s at {', '.join(f'{r:g}' for r in rates)} leads/s",
        "workers": workers,
        "n8n_settings": N8N_SETTINGS,
        "load_average_at_start": _load(),
        "systems": {},
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                print(f"  {name}")
                log = Path(tmp) / f"{name}.log"
                t0 = time.monotonic()
                system: System
                if name == "engine":
                    system = Engine(free_port(), log)
                elif name == "floor":
                    system = Floor(free_port(), log)
                else:
                    kind = {"n8n": N8n, "n8n-legacy": N8nLegacyExpressions}[name]
                    system = kind(
                        free_port(), log, broker_port=free_port(), folder=Path(tmp) / name
                    )
                try:
                    if isinstance(system, Engine):
                        system.start(twilio_url, sendgrid_url)
                    elif isinstance(system, Floor):
                        system.start(twilio_url, workers)
                    else:
                        assert isinstance(system, N8n)
                        system.start(twilio_url)
                    start_seconds = round(time.monotonic() - t0, 1)
                    print(f"    ready in {start_seconds} s")
                    result = _measure(
                        system, providers, zone, args.rate, args.seconds, rates, args.step_seconds
                    )
                    result["start_seconds"] = start_seconds
                    if isinstance(system, N8n) and system.extra_settings:
                        result["n8n_settings_added"] = system.extra_settings
                    report["systems"][name] = result
                finally:
                    system.stop()
    finally:
        stop_providers(providers)
    report["load_average_at_end"] = _load()
    report["run_seconds"] = round(time.monotonic() - started)
    report["n8n_home"] = str(N8N_HOME)
    save(args.results.resolve(), report)
    return 0
