import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlmodel import Session

from recovery_app.cli import alembic_config, main
from recovery_app.models import Lead, User
from tests.conftest import app_pointed_at

RECOVERY = Path(sys.executable).with_name("recovery")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_database(fresh_database):
    with app_pointed_at(fresh_database.url):
        yield fresh_database


def test_migrate_then_seed_demo_if_empty(cli_database, capsys) -> None:
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0  # running it again changes nothing
    assert main(["seed-demo", "--leads", "40", "--seed", "5", "--if-empty"]) == 0
    out = capsys.readouterr().out
    assert "Demo data loaded" in out and "40 leads" in out
    assert out.count("@harborviewrealty.example") == 14
    with Session(cli_database.engine) as session:
        assert session.execute(select(func.count()).select_from(Lead)).scalar_one() == 40
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 14

    assert main(["seed-demo", "--if-empty"]) == 0
    assert "already has data" in capsys.readouterr().out
    # Without --if-empty a second seed is refused with a clear message, not a traceback.
    assert main(["seed-demo", "--leads", "5"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_console_script_reports_a_bad_database_url_in_one_line(tmp_path) -> None:
    result = subprocess.run(
        [str(RECOVERY), "migrate"],
        env={"DATABASE_URL": "postgres//oops", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: DATABASE_URL: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_seed_demo_rejects_a_non_positive_count(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["seed-demo", "--leads", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_reflex_config_stops_on_a_bad_value_with_one_line(tmp_path) -> None:
    # `reflex run` imports rxconfig first; a bad variable must stop it with one readable line.
    result = subprocess.run(
        [sys.executable, "-c", "import rxconfig"],
        env={"DATABASE_URL": "postgres//oops", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Configuration error: DATABASE_URL: ")
    assert len(result.stderr.strip().splitlines()) == 1


def _import_the_app_in_production(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """What each production worker does first: import the app, in production mode."""
    return subprocess.run(
        [sys.executable, "-c", "import recovery_app.recovery_app"],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "REFLEX_ENV_MODE": "prod",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_stops_at_start_without_a_secret_key(tmp_path) -> None:
    # Unsigned unsubscribe links would fail every marketing email at send time instead.
    result = _import_the_app_in_production(tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Configuration error: SECRET_KEY")


def test_production_stops_at_start_with_several_workers_and_no_redis(tmp_path) -> None:
    # Granian would start them all, each with its own copy of every browser's state.
    result = _import_the_app_in_production(
        tmp_path, SECRET_KEY="a-production-secret-key-0123456789abcdef", GRANIAN_WORKERS="3"
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Configuration error: GRANIAN_WORKERS: 3 workers need REDIS_URL")


def test_exporting_the_pages_needs_no_secret_key(tmp_path) -> None:
    # `make build` (and the image's builder stage) compiles the app in production mode only to
    # export the pages; `reflex export` marks that in its internal REFLEX_COMPILE_CONTEXT
    # (Reflex prefixes its internal variables).
    result = _import_the_app_in_production(tmp_path, __REFLEX_COMPILE_CONTEXT="export")
    assert result.returncode == 0, result.stderr


def test_first_admin_and_api_key_from_the_command_line(cli_database, capsys, monkeypatch) -> None:
    import io
    from datetime import UTC, datetime

    from recovery_app.db import session_scope
    from recovery_app.domain.accounts import api_keys
    from recovery_app.domain.accounts.passwords import verify_password
    from recovery_app.domain.accounts.repository import user_by_email

    assert main(["migrate"]) == 0
    assert (
        main(
            [
                "create-tenant",
                "--name",
                "Main Office",
                "--location-id",
                "main",
                "--timezone",
                "America/Chicago",
            ]
        )
        == 0
    )
    assert "Created tenant Main Office" in capsys.readouterr().out
    assert (
        main(
            [
                "create-tenant",
                "--name",
                "Dup",
                "--location-id",
                "main",
                "--timezone",
                "America/Chicago",
            ]
        )
        == 2
    )
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["create-tenant", "--name", "Bad", "--location-id", "b", "--timezone", "Mars/Base"])
        == 2
    )

    monkeypatch.setattr("sys.stdin", io.StringIO("first-admin-password\n"))
    assert (
        main(
            [
                "create-user",
                "--email",
                "Boss@Example.com",
                "--role",
                "admin",
                "--tenant",
                "main",
                "--password-stdin",
            ]
        )
        == 0
    )
    with session_scope() as s:
        admin = user_by_email(s, "boss@example.com")
        assert admin is not None and admin.role == "admin"
        assert verify_password(admin.password_hash, "first-admin-password")
    capsys.readouterr()
    assert (
        main(["create-user", "--email", "x@example.com", "--role", "agent", "--tenant", "main"])
        == 2
    )
    assert "--password-stdin" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert (
        main(
            [
                "create-user",
                "--email",
                "y@example.com",
                "--role",
                "agent",
                "--tenant",
                "main",
                "--password-stdin",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "create-user",
                "--email",
                "z@example.com",
                "--role",
                "agent",
                "--tenant",
                "nope",
                "--password-stdin",
            ]
        )
        == 2
    )

    assert main(["create-api-key", "--role", "manager", "--tenant", "main"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]  # alone on its last line
    with session_scope() as s:
        viewer = api_keys.authenticate(s, key=key, now=datetime.now(UTC))
        assert viewer.role == "manager"


def test_run_job_from_the_command_line(cli_database, capsys) -> None:
    assert main(["migrate"]) == 0
    assert main(["run-job", "purge_demo_sandboxes"]) == 0
    assert "purge_demo_sandboxes: sandboxes_deleted=0" in capsys.readouterr().out
    assert main(["run-job", "nope"]) == 2


def test_replicas_migrating_at_once_all_start_on_the_latest_schema(fresh_database) -> None:
    """Each app container runs `recovery migrate` before it starts; three starting together on
    an empty PostgreSQL database must all succeed (the advisory lock queues them)."""
    if fresh_database.backend != "postgresql":
        pytest.skip("several app processes sharing one database: PostgreSQL")
    env = dict(os.environ, DATABASE_URL=fresh_database.url)
    runs = [
        subprocess.Popen(
            [str(RECOVERY), "migrate"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
    with fresh_database.engine.connect() as conn:
        heads = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert heads == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
