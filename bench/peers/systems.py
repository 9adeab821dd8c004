"""The three systems of the peer benchmark, each started on a free port against its own
PostgreSQL database and the same fake Twilio: the engine (its production start), the floor
(bench/peers/floor.py under Granian) and n8n (the workflow in bench/peers/, installed by
bench/peers/setup_n8n.sh). Each knows where its leads are, to time speed to lead."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg

from bench.common import fresh_database

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
REDIS_URL = "redis://127.0.0.1:6379/12"
N8N_HOME = Path(os.environ.get("N8N_HOME", Path.home() / ".cache/recovery-bench/n8n"))
N8N_WORKFLOW_ID = "benchLeadIntake01"


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class System:
    """One system under test: `start()`, `url`, `received(run)`, `stop()`; its processes
    form one process group (`group`), whose memory the runner samples."""

    name: str
    database_url: str
    leads_query: str  # phone, created_at of one run's leads (their emails carry the run)
    drain_between_steps = False

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log_path = log
        self.process: subprocess.Popen | None = None

    @property
    def group(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def received(self, run: str) -> dict[str, datetime]:
        with psycopg.connect(_conninfo(self.database_url)) as conn:
            rows = conn.execute(self.leads_query, {"pattern": f"bench.{run}.%"}).fetchall()
        return dict(rows)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def backend_pids(self, pids: list[int]) -> list[int]:
        """The processes counted as "the backend" (the engine splits them out)."""
        return pids


class Engine(System):
    """`deploy/serve.sh`, the production start: migrate, then `reflex run --env prod
    --backend-only` (Granian, CPUs + 1 workers with Redis, each with its dispatcher)."""

    name = "engine"
    database_url = PG + "recovery_bench_peers_engine"
    leads_query = "SELECT phone, created_at FROM leads WHERE email LIKE %(pattern)s"
    drain_between_steps = True

    def start(self, twilio_url: str, sendgrid_url: str) -> None:
        from bench.intake import _app_env, _prepare

        env = _app_env(twilio_url, sendgrid_url, self.database_url, REDIS_URL)
        env["PORT"] = str(self.port)
        fresh_database(self.database_url)
        _prepare(env)  # this process then reads the engine's outbox to drain it between steps
        self._spawn(["sh", str(ROOT / "deploy/serve.sh")], env)
        self.wait_ready("/api/v1/health")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/webhooks/leads"

    def backend_pids(self, pids: list[int]) -> list[int]:
        # `reflex run` (after serve.sh's exec, the group's leader) hosts Granian's supervisor
        # in its own process; the workers it forks serve every request and run the outbox
        # dispatchers and the scheduler: those are the backend.
        return [pid for pid in pids if pid != self.group]


class Floor(System):
    """bench/peers/floor.py under Granian with the engine's worker count."""

    name = "floor"
    database_url = PG + "recovery_bench_peers_floor"
    leads_query = "SELECT phone, created_at FROM floor_leads WHERE email LIKE %(pattern)s"

    def start(self, twilio_url: str, workers: int) -> None:
        from bench.intake import granian_command
        from bench.intake_floor import SCHEMA

        fresh_database(self.database_url)
        with psycopg.connect(_conninfo(self.database_url), autocommit=True) as conn:
            conn.execute(SCHEMA)
        env = dict(
            os.environ,
            BENCH_FLOOR_DATABASE_URL=self.database_url,
            BENCH_TWILIO_API_BASE_URL=twilio_url,
        )
        self._spawn(granian_command("bench.peers.floor:app", workers, self.port), env)
        deadline = time.monotonic() + 60
        while True:  # no GET route: any answer means it listens
            try:
                httpx.get(self.url, timeout=2)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"floor not listening:\n{self.log()}") from None
                time.sleep(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/webhooks/leads"


N8N_SETTINGS = {
    # Production-ish, as a team self-hosting n8n for this would set it (regular mode, one
    # main process; queue mode with Redis workers is for several machines).
    "NODE_ENV": "production",
    "N8N_CONCURRENCY_PRODUCTION_LIMIT": "-1",  # unlimited concurrent webhook executions
    # Successful runs of a high-volume webhook are not kept; failures are, to debug them.
    "EXECUTIONS_DATA_SAVE_ON_SUCCESS": "none",
    "EXECUTIONS_DATA_SAVE_ON_ERROR": "all",
    "EXECUTIONS_DATA_SAVE_ON_PROGRESS": "false",
    "EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS": "false",
    "DB_POSTGRESDB_POOL_SIZE": "10",  # n8n's default is 2
    "N8N_LOG_LEVEL": "warn",
    "N8N_DIAGNOSTICS_ENABLED": "false",
    "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
    "N8N_TEMPLATES_ENABLED": "false",
    "N8N_PERSONALIZATION_ENABLED": "false",
    "N8N_DISABLED_MODULES": "mcp-registry",
    # The Code node runs in n8n's task runner, in its default internal mode (a child process
    # of n8n; the external mode is a separate launcher, for isolation).
    "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
}


class N8n(System):
    """n8n 2.41.1 (`n8n start`) on its own PostgreSQL database, the workflow imported and
    published; the leads go to a table in that database."""

    name = "n8n"
    database_url = PG + "recovery_bench_peers_n8n"
    leads_query = "SELECT phone, created_at FROM intake_leads WHERE email LIKE %(pattern)s"

    extra_settings: dict[str, str] = {}  # on top of N8N_SETTINGS

    def __init__(self, port: int, log: Path, *, broker_port: int, folder: Path) -> None:
        super().__init__(port, log)
        self.broker_port = broker_port
        self.folder = folder
        self.node = N8N_HOME / "node/node_modules/node/bin/node"
        self.n8n = N8N_HOME / "app/node_modules/n8n/bin/n8n"
        if not (self.node.exists() and self.n8n.exists()):
            raise SystemExit(f"n8n is not installed in {N8N_HOME}: run bench/peers/setup_n8n.sh")

    def _env(self) -> dict[str, str]:
        return dict(
            os.environ,
            **N8N_SETTINGS,
            **self.extra_settings,
            PATH=f"{self.node.parent}{os.pathsep}{os.environ['PATH']}",
            N8N_USER_FOLDER=str(self.folder),
            N8N_ENCRYPTION_KEY="bench-n8n-encryption-key",
            N8N_LISTEN_ADDRESS="127.0.0.1",
            N8N_PORT=str(self.port),
            # The task broker's default port, 5679, may be taken by anyone's n8n on the machine.
            N8N_RUNNERS_BROKER_PORT=str(self.broker_port),
            DB_TYPE="postgresdb",
            DB_POSTGRESDB_HOST="127.0.0.1",
            DB_POSTGRESDB_PORT="5432",
            DB_POSTGRESDB_DATABASE=self.database_url.rsplit("/", 1)[1],
            DB_POSTGRESDB_USER="postgres",
            DB_POSTGRESDB_PASSWORD="",
        )

    def _cli(self, env: dict[str, str], *args: str) -> None:
        result = subprocess.run(
            [str(self.node), str(self.n8n), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"n8n {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self, twilio_url: str) -> None:
        fresh_database(self.database_url)
        with psycopg.connect(_conninfo(self.database_url), autocommit=True) as conn:
            conn.execute((HERE / "n8n_schema.sql").read_text())
        env = self._env()
        # The committed files are what a team would import; this run's database and the
        # fake Twilio's address (the engine's TWILIO_API_BASE_URL) go into copies.
        credentials = json.loads((HERE / "n8n_credentials.json").read_text())
        for credential in credentials:
            if credential["type"] == "postgres":
                credential["data"]["database"] = env["DB_POSTGRESDB_DATABASE"]
        workflow = (HERE / "n8n_workflow.json").read_text()
        workflow = workflow.replace("https://api.twilio.com/", twilio_url.rstrip("/") + "/")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "credentials.json").write_text(json.dumps(credentials))
        (self.folder / "workflow.json").write_text(workflow)
        self._cli(env, "import:credentials", f"--input={self.folder / 'credentials.json'}")
        self._cli(env, "import:workflow", f"--input={self.folder / 'workflow.json'}")
        self._cli(env, "publish:workflow", f"--id={N8N_WORKFLOW_ID}")
        self._spawn([str(self.node), str(self.n8n), "start"], env)
        self.wait_ready("/healthz/readiness")
        # Ready comes before the published workflows' webhooks are registered (until then a
        # post is a 404); a GET names the methods of a registered path.
        deadline = time.monotonic() + 120
        while "POST" not in httpx.get(self.url, timeout=5).text:
            if time.monotonic() > deadline:
                raise TimeoutError(f"n8n never registered the webhook:\n{self.log()}")
            time.sleep(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook/api/v1/webhooks/leads"


class N8nLegacyExpressions(N8n):
    """n8n as above with N8N_EXPRESSION_ENGINE=legacy: expressions evaluated in n8n's own
    process instead of 2.x's default isolated-vm sandbox - faster, and less isolated."""

    name = "n8n-legacy"
    database_url = PG + "recovery_bench_peers_n8n_legacy"
    extra_settings = {"N8N_EXPRESSION_ENGINE": "legacy"}
