"""Running one window of a job exactly once.

The JobRun row (unique per job and window start) is committed before the work starts: a second
leader, a retry or an overlapping tick finds it and skips. A crash mid-run leaves the row
unfinished with no `finished_at`; the next window runs normally, so jobs are written to be
safe to run again (claims and set-based updates, not counters).
"""

import logging
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from sqlalchemy.exc import IntegrityError

from recovery_app.db import session_scope
from recovery_app.errors import NotFound
from recovery_app.jobs.registry import JOBS, Job
from recovery_app.models import JobRun
from recovery_app.observability import metrics, request_id

logger = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(now: datetime, job: Job) -> datetime:
    """The start of the window `now` falls in (windows are aligned to the epoch)."""
    period = job.interval.total_seconds()
    return EPOCH + (now - EPOCH) // job.interval * job.interval if period else now


@dataclass(frozen=True, slots=True)
class RunResult:
    job: str
    window_start: datetime
    processed: dict[str, Any]
    error: str | None


def run_window(
    job: Job, *, now: datetime, worker: str, window: datetime | None = None
) -> RunResult | None:
    """Run `job` for the window containing `now` (or `window`); None when it already ran."""
    start = window or window_start(now, job)
    try:
        with session_scope() as session:
            run = JobRun(job_name=job.name, window_start=start, worker=worker, started_at=now)
            session.add(run)
            session.flush()
            run_id = run.id
    except IntegrityError:
        return None
    processed: dict[str, Any] = {}
    error: str | None = None
    started = perf_counter()
    # One id per run: the messages the job queues carry it, so their sends log under it too.
    with request_id.bound(f"job-{job.name}-{request_id.new()[:12]}"):
        try:
            with session_scope() as session:
                processed = job.run(session, now)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            logger.exception("job %s failed for window %s", job.name, start.isoformat())
        took = perf_counter() - started
        metrics.JOB_DURATION.labels(job.name, "error" if error else "ok").observe(took)
        logger.info(
            "job %s ran in %.3f s",
            job.name,
            took,
            extra={"job": job.name, "duration_s": round(took, 3), "processed": processed},
        )
    with session_scope() as session:
        stored = session.get(JobRun, run_id)
        assert stored is not None
        stored.finished_at = datetime.now(UTC)
        stored.processed = processed
        stored.error = error
    return RunResult(job.name, start, processed, error)


def run_now(name: str, *, worker: str) -> RunResult:
    """`recovery run-job NAME`: run a job immediately, in a window of its own."""
    job = JOBS.get(name.replace("-", "_"))  # `run-job calibrate-scoring` reads naturally too
    if job is None:
        raise NotFound(f"No job named {name!r}; jobs: {', '.join(sorted(JOBS))}.")
    now = datetime.now(UTC)
    result = run_window(job, now=now, worker=worker, window=now)
    assert result is not None  # a window at this exact microsecond is ours
    return result
