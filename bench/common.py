"""Set-up the benchmarks share: an empty PostgreSQL database, and the schema in it."""

import json
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
