"""Start the real app (`reflex run`) on free ports for browser tests and benchmarks.

`reflex run` may ignore SIGTERM, so the server runs in its own process group and the whole
group is killed when the test is done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The address browsers reach the servers at: a loopback address that is not `localhost`, as
# users reach a deployment (a LAN address, a domain). Pages that worked only at `localhost`
# (an address baked into them, a localhost-only origin check) fail here.
HOST = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment the Makefile gives Reflex: project-local bun first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(ROOT / ".tools/node_modules/.bin"), str(BIN), env.get("PATH", "")]
    )
    env.update(REFLEX_USE_SYSTEM_BUN="1", DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def _run(env: dict[str, str], command: list[str], what: str, timeout: float) -> str:
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def run_cli(env: dict[str, str], *args: str) -> str:
    return _run(env, [str(BIN / "recovery"), *args], f"recovery {' '.join(args)}", 600)


def run_python(env: dict[str, str], script: str, *args: str) -> str:
    """Run a Python snippet against the app's database (seeding a row a test needs, or what a
    provider outside this machine would have done); its stdout."""
    return _run(env, [str(BIN / "python"), "-c", script, *args], "snippet", 120)


class ReflexServer:
    """`reflex run` in dev mode (or prod with `prod=True`) until `stop()`."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, prod: bool = False, port: int | None = None
    ):
        # A caller that must know the address first (production checks APP_BASE_URL against
        # the page's origin) picks the port.
        self.frontend_port = port or free_port()
        self.backend_port = self.frontend_port if prod else free_port()
        self.url = f"http://{HOST}:{self.frontend_port}"
        self.api_url = f"http://{HOST}:{self.backend_port}"
        self.log_path = log_path
        command = [
            str(BIN / "reflex"),
            "run",
            "--env",
            "prod" if prod else "dev",
            "--frontend-port",
            str(self.frontend_port),
            "--backend-port",
            str(self.backend_port),
        ]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str = "/leads", timeout: float = 420) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"reflex run exited early:\n{self.log()}")
            try:
                # Production serves pages as static files: /login redirects to /login/.
                front = httpx.get(self.url + path, timeout=5, follow_redirects=True)
                back = httpx.get(self.api_url + "/api/v1/health", timeout=5)
                if front.status_code == 200 and back.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"app not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()
