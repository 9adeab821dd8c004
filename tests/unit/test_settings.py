import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from recovery_app.errors import ConfigurationError
from recovery_app.settings import Settings, get_settings, reload_settings


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path):
    # No developer .env and no inherited variables leak into these cases.
    monkeypatch.chdir(tmp_path)
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "APP_BASE_URL",
        "SECRET_KEY",
        "REFLEX_ENV_MODE",
        "SWEEP_INTERVAL_SECONDS",
        "SCHEDULER",
        "SENDGRID_WEBHOOK_PUBLIC_KEY",
        "SLACK_WEBHOOK_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    yield
    monkeypatch.undo()
    reload_settings()


def test_defaults_match_the_design() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///recovery.db"
    assert settings.redis_url is None
    assert settings.app_base_url == "http://localhost:3000"
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.sendgrid_api_base_url == "https://api.sendgrid.com"
    assert settings.scheduler == "embedded"
    assert settings.sweep_interval_seconds == 60
    assert settings.demo_mode is False
    assert not settings.twilio_configured and not settings.sendgrid_configured


def test_malformed_database_url_names_the_variable_in_one_line(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres//nope")
    with pytest.raises(ConfigurationError) as caught:
        reload_settings()
    message = caught.value.message
    assert message.startswith("DATABASE_URL: ")
    assert "\n" not in message


def test_unsupported_database_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/db")
    with pytest.raises(ConfigurationError, match="DATABASE_URL: unsupported database 'mysql'"):
        reload_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "localhost:6379"),
        ("APP_BASE_URL", "example.com"),
        ("SWEEP_INTERVAL_SECONDS", "0"),
        ("SCHEDULER", "sometimes"),
        ("SENDGRID_WEBHOOK_PUBLIC_KEY", "not base64!"),
        ("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/x"),
    ],
)
def test_each_bad_value_is_reported_by_name(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"^{name}: "):
        reload_settings()


def test_dot_env_file_is_read(tmp_path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("APP_BASE_URL=https://leads.example.com/\nDEMO_MODE=1\n")
    settings = reload_settings()
    assert settings.app_base_url == "https://leads.example.com"
    assert settings.demo_mode is True
    assert get_settings() is settings


def test_secret_key_is_generated_once_in_development() -> None:
    first = Settings().resolved_secret_key()
    assert len(first) >= 40
    assert Settings().resolved_secret_key() == first


def test_secret_key_is_required_in_production(monkeypatch) -> None:
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY: required in production"):
        Settings().resolved_secret_key()
    monkeypatch.setenv("SECRET_KEY", "s3cret-value-from-the-environment")
    assert Settings().resolved_secret_key() == "s3cret-value-from-the-environment"


def test_several_workers_need_redis(monkeypatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    Settings().check_workers()  # Reflex's default without Redis: one worker
    monkeypatch.setenv("GRANIAN_WORKERS", "1")
    Settings().check_workers()
    monkeypatch.setenv("GRANIAN_WORKERS", "3")
    with pytest.raises(ConfigurationError, match=r"^GRANIAN_WORKERS: 3 workers need REDIS_URL"):
        Settings().check_workers()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    Settings().check_workers()
    monkeypatch.setenv("GRANIAN_WORKERS", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_production_starts_cpus_plus_one_workers_with_redis(monkeypatch) -> None:
    monkeypatch.delenv("GRANIAN_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert Settings().production_workers() == 1  # each worker would keep its own state
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert Settings().production_workers() == 3
    monkeypatch.setattr("os.cpu_count", lambda: 32)
    assert Settings().production_workers() == 8  # Reflex's cap
    monkeypatch.setenv("GRANIAN_WORKERS", "12")
    assert Settings().production_workers() == 12  # what the operator chose


@pytest.mark.parametrize(
    ("redis_url", "workers", "expected"),
    [
        ("redis://127.0.0.1:6379/0", None, str(min((os.cpu_count() or 1) + 1, 8))),
        ("redis://127.0.0.1:6379/0", "2", "2"),
        (None, None, None),  # Reflex's own rule: one worker without Redis
    ],
)
def test_rxconfig_hands_granian_the_worker_count(redis_url, workers, expected) -> None:
    """Granian reads only GRANIAN_WORKERS: importing rxconfig (what `reflex run` does before
    it starts the workers) must leave the count there."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GRANIAN_WORKERS")}
    env |= {"REDIS_URL": redis_url} if redis_url else {}
    env |= {"GRANIAN_WORKERS": workers} if workers else {}
    shown = subprocess.run(
        [sys.executable, "-c", "import os, rxconfig; print(os.environ.get('GRANIAN_WORKERS'))"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    assert shown == str(expected)


def test_an_empty_slack_webhook_url_means_slack_is_off(monkeypatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", " ")
    assert reload_settings().slack_webhook_url is None
