import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from recovery_app.cli import main
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
