"""APScheduler wiring. Every worker runs a scheduler; only the lease holder runs job bodies.

Embedded (SCHEDULER=embedded): started by the Reflex backend's lifespan in every worker.
Standalone (SCHEDULER=off plus `recovery scheduler`): the same jobs in a process of their own.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from recovery_app.db import session_scope
from recovery_app.jobs import lease
from recovery_app.jobs.registry import JOBS, Job
from recovery_app.jobs.runner import run_window
from recovery_app.settings import get_settings

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def lease_ttl() -> timedelta:
    return timedelta(seconds=get_settings().scheduler_lease_seconds)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaderScheduler:
    """Holds (or waits for) the lease and runs due job windows while it leads."""

    def __init__(self, holder: str | None = None, jobs: dict[str, Job] | None = None):
        self.holder = holder or worker_id()
        self.jobs = jobs if jobs is not None else JOBS
        self.leader = False

    def renew(self) -> bool:
        now = datetime.now(UTC)
        try:
            with session_scope() as session:
                self.leader = lease.acquire(
                    session, name=LEASE_NAME, holder=self.holder, now=now, ttl=lease_ttl()
                )
        except Exception:
            # A database hiccup: stop acting as leader until the lease is confirmed again.
            logger.exception("scheduler lease renewal failed")
            self.leader = False
        return self.leader

    def release(self) -> None:
        if not self.leader:
            return
        with session_scope() as session:
            lease.release(session, name=LEASE_NAME, holder=self.holder, now=datetime.now(UTC))
        self.leader = False

    def run_job(self, name: str) -> None:
        # Re-check the lease right before the work, not only at the last renewal.
        if not self.renew():
            return
        run_window(self.jobs[name], now=datetime.now(UTC), worker=self.holder)

    def install(self, scheduler: BaseScheduler) -> None:
        scheduler.add_job(
            self.renew,
            "interval",
            seconds=lease_ttl().total_seconds() / 3,
            id="lease",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        for job in self.jobs.values():
            scheduler.add_job(
                self.run_job,
                "interval",
                args=[job.name],
                id=job.name,
                seconds=job.interval.total_seconds(),
                max_instances=1,
                # Runs missed while the loop was busy collapse into one; a run later than the
                # grace period is skipped (and logged below): its work is in the next window.
                coalesce=True,
                misfire_grace_time=misfire_grace(job),
                next_run_time=datetime.now(UTC) + timedelta(seconds=5),
            )
        scheduler.add_listener(_log_missed, EVENT_JOB_MISSED)


def misfire_grace(job: Job) -> int:
    """Half the job's period, at least 5 s and at most 10 min."""
    return int(min(600, max(5, job.interval.total_seconds() / 2)))


def _log_missed(event: JobExecutionEvent) -> None:
    logger.warning(
        "scheduler skipped %s due at %s: later than its grace period",
        event.job_id,
        event.scheduled_run_time.isoformat() if event.scheduled_run_time else "?",
    )


@contextlib.asynccontextmanager
async def embedded_scheduler() -> AsyncIterator[None]:
    """Reflex lifespan task: runs the scheduler inside each backend worker when enabled."""
    if get_settings().scheduler != "embedded":
        yield
        return
    leader = LeaderScheduler()
    scheduler = AsyncIOScheduler(timezone=UTC)
    leader.install(scheduler)
    scheduler.start()
    logger.info("embedded scheduler started as %s", leader.holder)
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.to_thread(leader.release)


def run_standalone() -> None:
    """`recovery scheduler`: block, running the jobs while this process holds the lease."""
    leader = LeaderScheduler()
    scheduler = BlockingScheduler(timezone=UTC)
    leader.install(scheduler)
    # A process manager stops us with SIGTERM: leave through `finally` so the lease is freed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Scheduler {leader.holder} running {', '.join(sorted(leader.jobs))}; Ctrl-C to stop.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        leader.release()
