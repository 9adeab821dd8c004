"""deploy/backup.sh then deploy/restore.sh, the documented commands, on real PostgreSQL
databases: every table comes back with the same rows, and the sequences carry on where they were
(so the restored app does not hand out ids that already exist)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from recovery_app.cli import main
from recovery_app.db import build_engine
from tests.conftest import _POSTGRES, app_pointed_at

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(_POSTGRES is None, reason="no PostgreSQL reachable")


def _admin() -> Engine:
    return build_engine(_POSTGRES, isolation_level="AUTOCOMMIT")  # type: ignore[arg-type]


@pytest.fixture
def database_names() -> Iterator[tuple[str, str]]:
    """Two database names of this test's own (source and restore target), dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = (f"backup_src_{suffix}", f"backup_dst_{suffix}")
    yield names
    admin = _admin()
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _libpq_env(database: str, **extra: str) -> dict[str, str]:
    url = make_url(_POSTGRES)  # type: ignore[arg-type]
    env = dict(os.environ, PGHOST=url.host or "127.0.0.1", PGPORT=str(url.port or 5432))
    env.update(PGUSER=url.username or "postgres", PGDATABASE=database, **extra)
    if url.password:
        env["PGPASSWORD"] = url.password
    return env


def _snapshot(database: str) -> dict[str, int]:
    """Rows per table and the next value of every sequence."""
    engine = build_engine(make_url(_POSTGRES).set(database=database).render_as_string(False))  # type: ignore[arg-type]
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        state = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        for name, value in conn.execute(
            text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
        ):
            state[f"sequence {name}"] = value
    engine.dispose()
    return state


def test_a_backup_restores_into_a_fresh_database_with_every_row(database_names, tmp_path) -> None:
    source, target = database_names
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{source}"'))
    admin.dispose()
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text(
        "first_name,last_name,email,phone,source\n"
        + "".join(f"Lee{n},Backup,lee{n}@example.com,+1512555{n:04d},web_form\n" for n in range(40))
    )
    with app_pointed_at(make_url(_POSTGRES).set(database=source).render_as_string(False)):  # type: ignore[arg-type]
        assert main(["migrate"]) == 0
        assert (
            main(
                [
                    "create-tenant",
                    "--name",
                    "Main",
                    "--location-id",
                    "main",
                    "--timezone",
                    "America/Chicago",
                ]
            )
            == 0
        )
        assert main(["import-leads", str(leads_csv), "--tenant", "main"]) == 0
    before = _snapshot(source)
    assert before["leads"] == 40 and before["activities"] >= 40 and before["alembic_version"] == 1

    backup = subprocess.run(
        [str(ROOT / "deploy/backup.sh")],
        env=_libpq_env(source, BACKUP_DIR=str(tmp_path / "backups")),
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    dump = Path(backup.stdout.strip().splitlines()[-1])
    assert dump.parent == tmp_path / "backups" and dump.name.startswith(f"{source}-")
    assert dump.suffix == ".dump" and dump.stat().st_size > 0
    assert not list(dump.parent.glob(".*partial"))

    restore = [str(ROOT / "deploy/restore.sh"), str(dump), target]
    subprocess.run(restore, env=_libpq_env(source), check=True, capture_output=True, timeout=300)
    assert _snapshot(target) == before

    # Restoring over a database that exists is refused and leaves it as it was.
    again = subprocess.run(
        restore, env=_libpq_env(source), capture_output=True, text=True, timeout=300
    )
    assert again.returncode != 0 and "already exists" in again.stderr
    assert _snapshot(target) == before
