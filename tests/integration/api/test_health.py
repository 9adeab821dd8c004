from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from recovery_app import db as app_db
from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.models import Channel, Direction, JobRun, Message, MessageStatus, SchedulerLease
from recovery_app.settings import reload_settings
from tests.factories import make_tenant


@pytest.fixture
def client(app_database):
    with TestClient(create_api()) as client:
        yield client


def test_health_reports_database_and_scheduler(client) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            SchedulerLease(
                name="scheduler",
                holder="web-1:4242",
                acquired_at=now,
                expires_at=now + timedelta(seconds=30),
            )
        )
        session.add(
            JobRun(
                job_name="silence_sweep",
                window_start=now - timedelta(minutes=2),
                started_at=now - timedelta(minutes=2),
                finished_at=now - timedelta(minutes=2),
            )
        )
        session.add(
            JobRun(
                job_name="silence_sweep",
                window_start=now - timedelta(minutes=1),
                started_at=now - timedelta(minutes=1),
            )
        )
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["db"] == "ok"
    assert body["redis"] == "not_configured"
    assert body["scheduler"]["leader"] == "web-1:4242"
    last = body["scheduler"]["last_runs"]["silence_sweep"]
    assert last["finished_at"] is None  # the newest run, still going
    assert body["outbox"] == {"queued": 0, "due": 0, "sending": 0, "oldest_due_age_seconds": None}


def test_health_reports_the_outbox_depth_and_its_oldest_due_message(client) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        tenant = make_tenant(session)
        waits = {
            "late": (MessageStatus.QUEUED, now - timedelta(minutes=5)),
            "due": (MessageStatus.QUEUED, now - timedelta(seconds=10)),
            "morning": (MessageStatus.QUEUED, now + timedelta(hours=9)),  # a quiet-hours hold
            "claimed": (MessageStatus.SENDING, now + timedelta(seconds=40)),
            "done": (MessageStatus.SENT, now - timedelta(hours=1)),
        }
        for key, (status, due_at) in waits.items():
            session.add(
                Message(
                    tenant_id=tenant.id,
                    channel=Channel.SMS,
                    direction=Direction.OUTBOUND,
                    status=status,
                    body="hi",
                    idempotency_key=f"health:{key}",
                    next_attempt_at=due_at,
                )
            )
    outbox = client.get("/api/v1/health").json()["outbox"]
    assert (outbox["queued"], outbox["due"], outbox["sending"]) == (3, 2, 1)
    assert 300 <= outbox["oldest_due_age_seconds"] < 330


def test_expired_lease_means_no_leader(client) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            SchedulerLease(
                name="scheduler",
                holder="gone",
                acquired_at=now - timedelta(minutes=5),
                expires_at=now - timedelta(minutes=4),
            )
        )
    assert client.get("/api/v1/health").json()["scheduler"]["leader"] is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unreachable_database_answers_503(client, monkeypatch) -> None:
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    reload_settings()
    app_db.reset_engine()
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["db"] == "unreachable" and response.json()["outbox"] is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_metrics_answer_without_the_database(client, monkeypatch) -> None:
    """A scrape still gets the event metrics, and a gauge saying the database part is missing."""
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    reload_settings()
    app_db.reset_engine()
    response = client.get("/api/v1/metrics")
    assert response.status_code == 200
    assert "recovery_metrics_database_up 0.0" in response.text
    assert "recovery_sends_total" in response.text or "# TYPE recovery_sends" in response.text
    assert "recovery_outbox_messages" not in response.text


def test_reachable_redis_is_ok(client, monkeypatch, redis_url) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    reload_settings()
    body = client.get("/api/v1/health").json()
    assert (body["redis"], body["status"]) == ("ok", "ok")


def test_unreachable_redis_degrades(client, monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reload_settings()
    body = client.get("/api/v1/health").json()
    assert (body["redis"], body["status"]) == ("unreachable", "degraded")


def test_openapi_is_served(client) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/health" in spec["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_unknown_route_answers_the_error_shape(client) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
