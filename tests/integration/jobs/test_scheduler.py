from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.errors import NotFound
from recovery_app.jobs import lease
from recovery_app.jobs.registry import JOBS, Job
from recovery_app.jobs.runner import run_now, run_window, window_start
from recovery_app.jobs.scheduler import LEASE_NAME, LeaderScheduler
from recovery_app.models import JobRun, SchedulerLease
from tests.factories import NOW

TTL = timedelta(seconds=30)


def test_one_leader_at_a_time_and_takeover_after_expiry(session) -> None:
    assert lease.acquire(session, name="s", holder="web-1", now=NOW, ttl=TTL)
    assert not lease.acquire(
        session, name="s", holder="web-2", now=NOW + timedelta(seconds=5), ttl=TTL
    )
    assert lease.acquire(
        session, name="s", holder="web-1", now=NOW + timedelta(seconds=10), ttl=TTL
    )  # renew
    assert not lease.acquire(
        session, name="s", holder="web-2", now=NOW + timedelta(seconds=35), ttl=TTL
    )
    # web-1 stopped renewing: after its lease runs out, web-2 takes over.
    assert lease.acquire(
        session, name="s", holder="web-2", now=NOW + timedelta(seconds=41), ttl=TTL
    )
    assert not lease.acquire(
        session, name="s", holder="web-1", now=NOW + timedelta(seconds=42), ttl=TTL
    )
    lease.release(session, name="s", holder="web-2", now=NOW + timedelta(seconds=43))
    assert lease.acquire(
        session, name="s", holder="web-1", now=NOW + timedelta(seconds=44), ttl=TTL
    )
    row = session.execute(select(SchedulerLease)).scalar_one()
    assert row.holder == "web-1"


def test_windows_are_aligned() -> None:
    job = Job("j", timedelta(minutes=15), lambda s, n: {}, "")
    at = datetime(2026, 11, 1, 10, 44, 59, tzinfo=UTC)
    assert window_start(at, job) == datetime(2026, 11, 1, 10, 30, tzinfo=UTC)


def test_each_window_runs_once_and_errors_are_recorded(app_database) -> None:
    calls = []

    def work(session, now):
        calls.append(now)
        return {"done": len(calls)}

    job = Job("test_job", timedelta(minutes=5), work, "")
    first = run_window(job, now=NOW, worker="w1")
    assert first is not None and first.processed == {"done": 1}
    assert run_window(job, now=NOW + timedelta(minutes=1), worker="w2") is None  # same window
    assert run_window(job, now=NOW + timedelta(minutes=5), worker="w2") is not None
    assert len(calls) == 2

    def broken(session, now):
        raise RuntimeError("provider down")

    failed = run_window(Job("broken", timedelta(minutes=5), broken, ""), now=NOW, worker="w1")
    assert failed is not None and "provider down" in failed.error
    with session_scope() as session:
        runs = session.execute(select(JobRun).order_by(JobRun.id)).scalars().all()
        assert [(r.job_name, r.finished_at is not None) for r in runs] == [
            ("test_job", True),
            ("test_job", True),
            ("broken", True),
        ]
        assert runs[2].error and "provider down" in runs[2].error


def test_only_the_leader_runs_jobs(app_database) -> None:
    calls = []
    jobs = {"count": Job("count", timedelta(minutes=1), lambda s, n: calls.append(1) or {}, "")}
    first, second = LeaderScheduler("a", jobs), LeaderScheduler("b", jobs)
    assert first.renew() and not second.renew()
    second.run_job("count")
    assert calls == []
    first.run_job("count")
    assert calls == [1]
    first.release()
    assert second.renew()
    with session_scope() as session:
        assert session.get(SchedulerLease, LEASE_NAME).holder == "b"


def test_run_now_and_unknown_jobs(app_database) -> None:
    result = run_now("prune_sign_in_attempts", worker="cli")
    assert result.error is None and result.processed == {"attempts_deleted": 0}
    with pytest.raises(NotFound, match="purge_demo_sandboxes"):
        run_now("nope", worker="cli")
    assert set(JOBS) >= {"purge_demo_sandboxes", "prune_sign_in_attempts"}
