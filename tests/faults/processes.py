"""Dispatcher processes a test can SIGKILL at chosen moments, and a fake Twilio that tells the
test when a request is at such a moment.

Starting a Python process that imports the app costs seconds of CPU on this shared machine, and
the kill test starts fifty. So a fork server (`python -m tests.faults.processes`) imports the
app once and forks a fresh dispatcher process for each `start`: a process of its own, with its
own connections, running `run_forever` exactly as each back-end worker's lifespan task does;
SIGKILL ends it without any cleanup, like a crash or an OOM kill.

The dispatchers live in a fast clock (`FAULT_CLOCK_SPEED` times the wall clock, shared by every
process from `FAULT_CLOCK_EPOCH`): a crash is answered by leases (30 s) and back-offs (30 s and
more) that would otherwise make fifty crashes take many minutes. Provider calls, their timeouts
and the fake's stalls stay in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.providers import FakeTwilio, Reply

ROOT = Path(__file__).resolve().parents[2]


def fast_clock(epoch: float, speed: float) -> Callable[[], datetime]:
    """A clock that runs `speed` times faster than the wall clock from `epoch` on."""

    def now() -> datetime:
        return datetime.fromtimestamp(epoch + (time.time() - epoch) * speed, UTC)

    return now


# ---------------------------------------------------------------- the fork server (child side)
def _dispatcher_child(number: int, gate: int) -> None:
    """A forked child: gets ready (engine, connection, channel), waits for its start signal on
    `gate`, then runs one dispatcher until it is killed."""
    from recovery_app.db import get_engine
    from recovery_app.messaging.channels import channel_for
    from recovery_app.messaging.dispatcher import Dispatcher, run_forever
    from recovery_app.models import Channel

    clock = fast_clock(
        float(os.environ["FAULT_CLOCK_EPOCH"]), float(os.environ["FAULT_CLOCK_SPEED"])
    )
    with get_engine().connect():
        pass  # the pool's first connection, made while the previous dispatcher still works
    channel_for(Channel.SMS, demo_tenant=False)
    dispatcher = Dispatcher(f"fault-{number}", clock=clock)
    if not os.read(gate, 1):
        return  # the server is done with us
    asyncio.run(run_forever(dispatcher))


def _fork_spare(number: int) -> tuple[int, int]:
    """Fork the next dispatcher ahead of time; (its pid, the fd that starts it)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # the protocol pipe belongs to the server
        try:
            _dispatcher_child(number, read_end)
        finally:
            os._exit(1)
    os.close(read_end)
    return pid, write_end


def serve() -> None:
    """Read commands on stdin: `start` starts a dispatcher and answers its pid; `wait PID`
    answers once that child is dead (and reaped); end of input ends the server.

    One child is always forked ahead and ready, so a start is instant: the kill test's fifty
    restarts would otherwise spend most of their time making connections and compiling SQL."""
    # Imported before any fork, so no child imports anything; nothing here opens a
    # connection (each child makes its own engine after the fork).
    import twilio.rest.api.v2010.account.message  # noqa: F401
    from sqlalchemy.orm import configure_mappers

    import recovery_app.messaging.channels.twilio_sms
    import recovery_app.messaging.dispatcher
    import recovery_app.models  # noqa: F401

    configure_mappers()  # else every child would work out the ORM's mappings again
    started = 1
    spare = _fork_spare(started)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "start":
            pid, gate = spare
            os.write(gate, b"1")
            os.close(gate)
            started += 1
            spare = _fork_spare(started)
            print(pid, flush=True)
        elif command == "wait":
            _, status = os.waitpid(int(argument), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
    pid, gate = spare
    os.close(gate)  # the spare reads end of file and exits
    os.waitpid(pid, 0)


# ---------------------------------------------------------------- the fork server (test side)
class DispatcherForks:
    """The test's handle on a fork server running under `env`."""

    def __init__(self, env: dict[str, str], log: Path):
        self._log = log.open("wb")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.processes"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )

    def _ask(self, line: str) -> str:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(line + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        if not answer:
            raise RuntimeError(f"the fork server died; see {self._log.name}")
        return answer.strip()

    def start(self) -> int:
        return int(self._ask("start"))

    def kill(self, pid: int) -> int:
        """SIGKILL the dispatcher and return once it is gone (its exit code: -9)."""
        os.kill(pid, 9)
        return int(self._ask(f"wait {pid}"))

    def close(self) -> None:
        if self.server.stdin is not None:
            self.server.stdin.close()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self._log.close()


# ---------------------------------------------------------------- a Twilio that springs traps
# Where inside a send the dispatcher is killed (besides at random moments):
ACCEPTED_UNANSWERED = "accepted-unanswered"  # Twilio created the message; the answer never left
ANSWERED = "answered"  # Twilio answered; the dispatcher may or may not have read it
LOST_IN_TRANSIT = "lost-in-transit"  # the request reached Twilio but it created nothing


class _HeldAnswer:
    """The request handler with its answer held until the test has killed the caller."""

    def __init__(self, handler: Any, before_answer: Callable[[], None]):
        self._handler, self._before_answer = handler, before_answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)

    def _send(self, *args: Any, **kwargs: Any) -> None:
        self._before_answer()
        with contextlib.suppress(OSError):  # the caller is dead
            self._handler._send(*args, **kwargs)


@dataclass
class _Trap:
    kind: str
    nth: int  # which request of this incarnation springs it


class TrappedTwilio(FakeTwilio):
    """FakeTwilio whose requests take `pace` seconds (so a dispatcher is always mid-work when
    killed), and whose `nth` request after `arm()` stops at the armed point: `sprung` is set,
    and the request waits for `release` (set once the test killed the dispatcher)."""

    def __init__(self, pace: float = 0.05):
        self.pace = pace
        self.sprung = threading.Event()
        self.release = threading.Event()
        self._trap: _Trap | None = None
        self._seen = 0
        self.first_request_at: float | None = None
        super().__init__()
        # A killed caller resets its connection mid-request: expected here, not worth a trace.
        self.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]

    def arm(self, kind: str | None, nth: int = 1) -> None:
        with self.lock:
            self._trap = _Trap(kind, nth) if kind else None
            self._seen = 0
            self.first_request_at = None
            self.sprung.clear()
            self.release.clear()

    def next_reply(self, default: Reply) -> Reply:
        with self.lock:
            return self.script.popleft() if self.script else Reply(delay=self.pace)

    def _take(self) -> str | None:
        with self.lock:
            self._seen += 1
            self.first_request_at = self.first_request_at or time.monotonic()
            if self._trap is None or self._seen != self._trap.nth:
                return None
            kind, self._trap = self._trap.kind, None
            return kind

    def _spring(self) -> None:
        self.sprung.set()
        self.release.wait(timeout=60)

    def handle_post(self, handler: Any, body: bytes) -> None:
        if len(body) < int(handler.headers.get("Content-Length") or 0):
            # The caller died while sending: a real server never sees a whole request, so it
            # creates nothing (FakeTwilio alone would record the truncated form).
            return
        kind = self._take()
        if kind == ACCEPTED_UNANSWERED:
            super().handle_post(_HeldAnswer(handler, self._spring), body)
        elif kind == ANSWERED:
            super().handle_post(handler, body)
            self._spring()
        elif kind == LOST_IN_TRANSIT:
            self._spring()
            with self.lock:
                self.attempts += 1
            with contextlib.suppress(OSError):
                handler._send(500, {"code": None, "message": "lost", "status": 500})
        else:
            super().handle_post(handler, body)


if __name__ == "__main__":
    serve()
