import pytest

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


def test_an_empty_slack_webhook_url_means_slack_is_off(monkeypatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", " ")
    assert reload_settings().slack_webhook_url is None
