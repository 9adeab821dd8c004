"""Who leads the scheduler and how each job last went: shown by `GET /api/v1/health` and the
Settings page."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recovery_app.jobs.registry import JOBS
from recovery_app.models import JobRun, SchedulerLease


@dataclass(frozen=True, slots=True)
class JobStatus:
    name: str
    description: str
    every_seconds: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    processed: dict[str, Any]
    error: str | None
    worker: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "processed": self.processed,
            "error": self.error,
        }


def leader(session: Session, now: datetime) -> str | None:
    lease = session.execute(select(SchedulerLease)).scalars().first()
    return lease.holder if lease is not None and lease.expires_at > now else None


def job_statuses(session: Session) -> list[JobStatus]:
    """Every registered job with its latest run (one query), in registry order."""
    latest = (
        select(JobRun.job_name, func.max(JobRun.started_at).label("started_at"))
        .group_by(JobRun.job_name)
        .subquery()
    )
    runs = {
        run.job_name: run
        for run in session.execute(
            select(JobRun).join(
                latest,
                (JobRun.job_name == latest.c.job_name) & (JobRun.started_at == latest.c.started_at),
            )
        ).scalars()
    }
    statuses = []
    # Registered jobs first; then runs of jobs this version no longer has (still worth showing).
    names = list(JOBS) + sorted(set(runs) - set(JOBS))
    for name in names:
        job = JOBS.get(name)
        run = runs.get(name)
        finished = run.finished_at if run else None
        statuses.append(
            JobStatus(
                name=name,
                description=job.description if job else "",
                every_seconds=int(job.interval.total_seconds()) if job else 0,
                started_at=run.started_at if run else None,
                finished_at=finished,
                duration_seconds=round((finished - run.started_at).total_seconds(), 3)
                if run and finished
                else None,
                processed=dict(run.processed or {}) if run else {},
                error=run.error if run else None,
                worker=run.worker if run else None,
            )
        )
    return statuses


def scheduler_status(session: Session, now: datetime) -> dict[str, Any]:
    return {
        "leader": leader(session, now),
        "last_runs": {s.name: s.as_json() for s in job_statuses(session) if s.started_at},
    }
