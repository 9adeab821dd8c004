"""What the benchmarks share: an empty PostgreSQL database and the schema in it, how a result
names the machine it was measured on, and where results are written."""

import json
import os
import platform
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url


def fresh_database(url: str) -> None:
    """Drop and re-create the PostgreSQL database `url` names (connected through `postgres`)."""
    from recovery_app.db import build_engine

    parsed = make_url(url)
    admin = build_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def migrate() -> None:
    """Apply the migrations to the database the app is configured for (DATABASE_URL)."""
    from alembic import command
    from recovery_app.cli import alembic_config
    from recovery_app.db import get_engine

    with get_engine().begin() as connection:
        command.upgrade(alembic_config(connection), "head")


def save(path: Path, report: dict) -> None:
    """Write a bench's report as JSON next to the others and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    root = Path(__file__).resolve().parents[1]
    print(f"Written to {path.relative_to(root) if path.is_relative_to(root) else path}")


def cpu_model() -> str:
    """The CPU's model name as Linux reports it ("unknown" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """The machine a result was measured on: architecture, CPU model, cores, Python."""
    return (
        f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def reference_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python workload, best of five. Two
    "2-core" machines (or one machine on a crowded day) can differ by half in what a core
    does: results from different days compare through this figure."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for n in range(1_000_000):
            total += n * n % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def steal_ticks() -> int:
    """CPU time the hypervisor gave to other guests so far (Linux /proc/stat, in ticks): the
    difference over a run says whether a neighbour took part of our cores."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return 0
