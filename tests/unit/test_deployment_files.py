"""docker-compose.yml, the Caddyfiles and the Dockerfile keep what the deployment relies on.

No Docker engine (nor the compose plugin) runs where the tests run, so the compose file is read
as YAML and checked for what matters, with compose's own variable syntax resolved; the
Caddyfiles go through the real Caddy binary (`caddy adapt --validate`, the version the compose
file's proxy image runs) and the JSON it produces is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from recovery_app.settings import Settings
from tests.dockerfile import instructions_of, runtime_stage

ROOT = Path(__file__).resolve().parents[2]
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent)) or "caddy"
SAMPLE_ENV = {
    "POSTGRES_PASSWORD": "pw-from-env",
    "SECRET_KEY": "k" * 48,
    "DOMAIN": "leads.example.com",
}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (nested defaults too), and $$."""
    pattern = re.compile(r"\$\{(\w+)(?::([-?])([^{}]*))?\}")
    while match := pattern.search(value):
        name, kind, arg = match.groups()
        if env.get(name):
            replacement = env[name]
        elif kind == "-":
            replacement = arg
        elif kind == "?":
            raise KeyError(f"{name}: {arg}")
        else:
            replacement = ""
        value = value[: match.start()] + replacement + value[match.end() :]
    return value.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_five_services_with_health_gated_start_up(compose) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "app", "caddy", "backup"}
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert services["app"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    # The app's own health check is the image's HEALTHCHECK on /api/v1/health.
    assert "healthcheck" not in services["app"]
    assert any(
        name == "HEALTHCHECK" and "/api/v1/health" in args
        for name, args in instructions_of((ROOT / "Dockerfile").read_text())
    )
    assert services["caddy"]["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert services["backup"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert all(s["restart"] == "unless-stopped" for s in services.values())


def test_the_app_scales_to_any_number_of_replicas(compose) -> None:
    app = compose["services"]["app"]
    # A fixed container name or a published host port would allow one container only.
    assert "container_name" not in app and "ports" not in app
    assert interpolate(str(app["deploy"]["replicas"]), {}) == "2"
    assert interpolate(str(app["deploy"]["replicas"]), {"APP_REPLICAS": "5"}) == "5"
    assert app["build"] == "." and app["init"] is True


def test_the_app_environment_is_settings_the_app_reads(compose) -> None:
    environment = {
        key: interpolate(value, SAMPLE_ENV)
        for key, value in compose["services"]["app"]["environment"].items()
    }
    assert set(environment) <= {name.upper() for name in Settings.model_fields}
    settings = Settings(**{key.lower(): value for key, value in environment.items()})
    assert settings.is_postgres and settings.redis_url == "redis://redis:6379/0"
    assert settings.app_base_url == "https://leads.example.com"
    assert settings.database_url.endswith(":pw-from-env@postgres:5432/recovery")
    # Required secrets stop `docker compose` with a message instead of starting without them.
    for missing in ("POSTGRES_PASSWORD", "SECRET_KEY"):
        env = {k: v for k, v in SAMPLE_ENV.items() if k != missing}
        with pytest.raises(KeyError, match=missing):
            [interpolate(v, env) for v in compose["services"]["app"]["environment"].values()]


def test_data_lives_in_volumes_and_the_proxy_config_is_mounted(compose) -> None:
    services = compose["services"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert {"caddy-data:/data", "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro"} <= set(
        services["caddy"]["volumes"]
    )
    assert set(compose["volumes"]) == {"postgres-data", "caddy-data", "caddy-config"}
    assert {"80:80", "443:443", "443:443/udp"} == set(services["caddy"]["ports"])


def test_backups_run_the_documented_script_with_a_matching_pg_dump(compose) -> None:
    backup = compose["services"]["backup"]
    assert backup["command"] == ["/deploy/backup.sh", "--daily"]
    assert "./deploy:/deploy:ro" in backup["volumes"]
    assert os.access(ROOT / "deploy/backup.sh", os.X_OK) and os.access(
        ROOT / "deploy/restore.sh", os.X_OK
    )
    # pg_dump refuses a server newer than itself: the same PostgreSQL image as the database.
    assert backup["image"] == compose["services"]["postgres"]["image"]
    env = {k: interpolate(str(v), SAMPLE_ENV) for k, v in backup["environment"].items()}
    assert env["PGHOST"] == "postgres" and env["PGPASSWORD"] == "pw-from-env"
    assert env["BACKUP_DIR"] == "/backups" and re.fullmatch(r"\d\d:\d\d", env["BACKUP_AT"])


def _adapt(caddyfile: str, **env: str) -> dict[str, Any]:
    result = subprocess.run(
        [CADDY, "adapt", "--config", str(ROOT / caddyfile), "--adapter", "caddyfile", "--validate"],
        env={**os.environ, "DOMAIN": "leads.example.com", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _site(config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    server = config["apps"]["http"]["servers"]["srv0"]
    route = server["routes"][0]
    return server | {"hosts": route["match"][0]["host"]}, route["handle"][0]["routes"]


def _body_limits(routes: list[dict[str, Any]]) -> dict[str, int]:
    limits = {}
    for route in routes:
        for handler in route["handle"]:
            if handler["handler"] == "request_body":
                limits[json.dumps(route.get("match"))] = handler["max_size"]
    return limits


def _proxy(routes: list[dict[str, Any]]) -> dict[str, Any]:
    return next(h for r in routes for h in r["handle"] if h["handler"] == "reverse_proxy")


@pytest.mark.parametrize("caddyfile", ["deploy/Caddyfile", "deploy/Caddyfile.hosts"])
def test_caddy_terminates_tls_for_the_domain_and_limits_bodies(caddyfile) -> None:
    server, routes = _site(_adapt(caddyfile, APP_UPSTREAMS="10.0.0.11:3000 10.0.0.12:3000"))
    # A site address with a domain: automatic HTTPS (certificate, :80 -> :443 redirect).
    assert server["listen"] == [":443"] and server["hosts"] == ["leads.example.com"]
    assert _body_limits(routes) == {
        json.dumps([{"path": ["/_upload*"]}]): 21 * 1024 * 1024,  # CSV import, up to 20 MiB
        json.dumps([{"not": [{"path": ["/_upload*"]}]}]): 1024 * 1024,
    }
    proxy = _proxy(routes)
    # Websockets (/_event) are proxied as upgrades by reverse_proxy itself; on a reload open
    # ones are given time instead of being cut at once.
    assert proxy["stream_close_delay"] == 300 * 10**9
    assert proxy["load_balancing"]["try_duration"] > 0
    assert proxy["health_checks"]["passive"]["max_fails"] == 1


def test_compose_caddy_balances_over_every_app_replica() -> None:
    proxy = _proxy(_site(_adapt("deploy/Caddyfile"))[1])
    port = next(
        a.split("=", 1)[1]
        for n, a in instructions_of((ROOT / "Dockerfile").read_text())
        if n == "ARG" and a.startswith("PORT=")
    )
    assert proxy["dynamic_upstreams"] == {
        "source": "a",
        "name": "app",
        "port": port,
        "refresh": 5 * 10**9,
    }


def test_the_load_balancer_checks_each_instance_health() -> None:
    proxy = _proxy(
        _site(_adapt("deploy/Caddyfile.hosts", APP_UPSTREAMS="10.0.0.11:3000 10.0.0.12:3000"))[1]
    )
    assert [u["dial"] for u in proxy["upstreams"]] == ["10.0.0.11:3000", "10.0.0.12:3000"]
    assert proxy["health_checks"]["active"]["uri"] == "/api/v1/health"
    assert proxy["health_checks"]["active"]["expect_status"] == 200


def test_the_image_builds_and_starts_through_the_makefile() -> None:
    instructions = instructions_of((ROOT / "Dockerfile").read_text())
    runs = [args for name, args in instructions if name == "RUN"]
    assert "make install" in runs and any(r.startswith("make build") for r in runs)
    assert ("USER", "recovery") in instructions
    stage = runtime_stage()
    assert stage.cmd == ["deploy/serve.sh"]
    assert ("/app/.web/build/client", "/app/.web/build/client") in stage.copies
    # `make serve` runs the same script; it migrates before the server starts.
    assert re.search(
        r"^serve: build\n\tPORT=\$\(PORT\) deploy/serve.sh$", (ROOT / "Makefile").read_text(), re.M
    )
    script = (ROOT / "deploy/serve.sh").read_text()
    assert script.index("recovery migrate") < script.index(
        "exec reflex run --env prod --backend-only"
    )
