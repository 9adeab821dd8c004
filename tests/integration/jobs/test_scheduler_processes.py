"""Three worker processes on PostgreSQL, each running the scheduler (2-second sweep) and the
dispatcher, over 5,000 due campaign steps; the leader is killed with SIGKILL midway. Every step
must reach the (local) Twilio server exactly once, one leader at a time, nothing lost."""

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from recovery_app.db import session_scope
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow, StepIn
from recovery_app.models import (
    Channel,
    Enrollment,
    JobRun,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
    SchedulerLease,
)
from tests.factories import make_tenant, manager_of
from tests.fakes.providers import FakeTwilio

STEPS = 5000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so quiet hours never hold the test."""
    offset = (12 - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    # POSIX names are inverted: Etc/GMT-3 is UTC+3.
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def seed(now: datetime) -> int:
    zone = midday_zone(now)
    with session_scope() as s:
        tenant = make_tenant(s, name="Load Office", sender_phone="+15125550000")
        s.execute(
            insert(Lead),
            [
                {
                    "tenant_id": tenant.id,
                    "first_name": f"Lead{i}",
                    "last_name": "Test",
                    "phone": f"+1512{7000000 + i:07d}",
                    "status": LeadStatus.SILENT,
                    "timezone": zone,
                    "consent_sms": True,
                    "created_at": now - timedelta(days=3),
                    "updated_at": now,
                    "last_activity_at": now,
                }
                for i in range(STEPS)
            ],
        )
        data = CampaignIn(
            name="Load",
            audience={"status": ["silent"]},
            steps=[StepIn(channel=Channel.SMS, body="Hi {{first_name}}! Reply STOP to opt out.")],
            send_window=SendWindow(days=list(range(7)), start="00:00", end="23:59"),
            frequency_cap_per_day=5,
        )
        campaign = service.create_campaign(s, viewer=manager_of(tenant), data=data, now=now)
        enrolled = service.launch(s, viewer=manager_of(tenant), campaign_id=campaign.id, now=now)
        assert enrolled == STEPS
        return tenant.id


def leader_pid() -> int | None:
    with session_scope() as s:
        lease = s.execute(select(SchedulerLease)).scalars().first()
        if lease is None or lease.expires_at < datetime.now(UTC):
            return None
        return int(lease.holder.split(":")[1])


def sent_count() -> int:
    with session_scope() as s:
        return s.execute(
            select(func.count()).where(Message.status == MessageStatus.SENT)
        ).scalar_one()


@pytest.mark.timeout(300)
def test_three_schedulers_send_every_step_once_across_a_leader_kill(app_database, backend) -> None:
    if backend != "postgresql":
        pytest.skip("several processes sharing one database: PostgreSQL")
    twilio = FakeTwilio()
    seed(datetime.now(UTC))
    env = os.environ | {
        "DATABASE_URL": app_database.url,
        "SWEEP_INTERVAL_SECONDS": "2",
        "SCHEDULER_LEASE_SECONDS": "3",
        "SCHEDULER": "embedded",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_FROM_NUMBER": "+15125550000",
        "TWILIO_API_BASE_URL": twilio.url,
        "SMS_PER_SECOND_PER_NUMBER": "0",
        "PROVIDER_TIMEOUT_SECONDS": "5",
        "PYTHONPATH": ROOT,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.jobs.worker_process"],
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    killed = None
    try:
        deadline = time.monotonic() + 240
        # Kill the leader once part of the work is done (mid-sweep or mid-dispatch).
        while time.monotonic() < deadline and killed is None:
            if sent_count() >= 500 and (pid := leader_pid()) is not None:
                killed = next(w for w in workers if w.pid == pid)
                os.killpg(killed.pid, signal.SIGKILL)
                killed_at = time.monotonic()
            time.sleep(0.2)
        assert killed is not None, "no leader ever sent anything"
        takeover = None
        while time.monotonic() < deadline:
            pid = leader_pid()
            if takeover is None and pid is not None and pid != killed.pid:
                takeover = time.monotonic() - killed_at
            if sent_count() >= STEPS:
                break
            time.sleep(0.5)
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        twilio.close()

    with session_scope() as s:
        messages = s.execute(select(Message.lead_id, Message.status, Message.idempotency_key)).all()
        enrollments = s.execute(select(Enrollment.status)).scalars().all()
        runs = (
            s.execute(
                select(JobRun).where(JobRun.job_name == "nurture_sweep").order_by(JobRun.started_at)
            )
            .scalars()
            .all()
        )
    assert len(messages) == STEPS and len({m.lead_id for m in messages}) == STEPS
    assert {m.status for m in messages} == {MessageStatus.SENT}
    assert all(status == "completed" for status in enrollments)
    received = twilio.messages
    assert len(received) == STEPS, "a step reached Twilio twice or never"
    assert len({r["To"] for r in received}) == STEPS
    assert takeover is not None and takeover <= 2 * 2 + 1, f"takeover took {takeover}"
    # One leader at a time: sweeps by different workers never overlap.
    for earlier, later in itertools.pairwise(runs):
        if earlier.worker != later.worker and earlier.finished_at is not None:
            assert earlier.finished_at <= later.started_at
