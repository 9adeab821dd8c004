"""`make run`, the README's first command, as a new user runs it: from a clean copy of the
project, with nothing set in the environment.

It once restarted its back end every 7-9 s forever (the embedded scheduler's writes to the
SQLite WAL woke the dev reloader, whose restart killed a worker that would not stop), so the
page never stayed connected. Here it must stay up for a minute without a restart, serve the
sign-in page at an address that is not `localhost`, let the printed demo manager sign in, and
stop its worker cleanly when a code change reloads it.

The copy shares this checkout's `.venv` and `.tools` (installing them again would only time
pip and npm); everything else - the database, `.web`, uploads, secrets - starts from nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CREDENTIAL, Account
from tests.e2e.server import HOST, ROOT, free_port

pytestmark = pytest.mark.e2e

STARTED = "embedded scheduler started"
REFUSED = "refused to gracefully stop"
STAY_UP_SECONDS = 60


def _project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in listed.split("\0") if f and (ROOT / f).is_file()]


class MakeRun:
    def __init__(self, copy: Path, log: Path, frontend_port: int):
        self.copy, self.log_path, self.url = copy, log, f"http://{HOST}:{frontend_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def starts(self) -> int:
        return self.log().count(STARTED)

    def wait_for(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"make run: {what} not within {timeout:.0f} s:\n{self.log()[-4000:]}")
            time.sleep(1)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory) -> Iterator[MakeRun]:
    copy = tmp_path_factory.mktemp("make-run") / "project"
    for name in _project_files():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)  # modification times kept: the install stamps hold
    for shared in (".venv", ".tools"):
        (copy / shared).symlink_to(ROOT / shared)
    frontend_port, backend_port = free_port(), free_port()
    # A user's shell: no DATABASE_URL, no REFLEX_* or test settings of this test run.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TERM") if k in os.environ}
    log = copy.parent / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "run", f"FRONTEND_PORT={frontend_port}", f"BACKEND_PORT={backend_port}"],
            cwd=copy,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = MakeRun(copy, log, frontend_port)
    try:

        def serving() -> bool:
            if process.poll() is not None:
                pytest.fail(f"make run exited:\n{run.log()[-4000:]}")
            try:
                return httpx.get(run.url + "/login", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        run.wait_for("the sign-in page", serving, timeout=420)
        run.wait_for("the back end's start", lambda: run.starts() >= 1, timeout=120)
        yield run
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_make_run_stays_up_and_the_demo_manager_signs_in(make_run: MakeRun, page) -> None:
    time.sleep(STAY_UP_SECONDS)
    log = make_run.log()
    assert make_run.starts() == 1, f"the back end restarted:\n{log[-4000:]}"
    assert REFUSED not in log
    assert (make_run.copy / "recovery.db").exists()  # its runtime files, where it keeps them

    manager = next(Account(*row) for row in CREDENTIAL.findall(log) if row[2] == "manager")
    page.goto(make_run.url + "/login")
    page.locator("#login-email").fill(manager.email)
    page.locator("#login-password").fill(manager.password)
    page.locator("#login-submit").click()
    # The first visit compiles each page's chunks in the dev server: give it time.
    expect(page.locator("#user-name")).to_have_text(re.compile(r"\S"), timeout=120_000)
    page.wait_for_timeout(3000)
    expect(page.get_by_text(re.compile("Cannot connect to server"))).to_have_count(0)


def test_a_code_change_reloads_once_and_the_worker_stops_cleanly(make_run: MakeRun) -> None:
    before = make_run.starts()
    (make_run.copy / "recovery_app/routes.py").touch()
    make_run.wait_for("the reload", lambda: make_run.starts() == before + 1, timeout=120)
    time.sleep(10)  # nothing else may follow it
    log = make_run.log()
    assert make_run.starts() == before + 1, log[-4000:]
    assert REFUSED not in log, log[-4000:]
