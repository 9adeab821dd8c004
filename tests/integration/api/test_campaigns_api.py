"""REST: /api/v1/recovery/campaigns and /api/v1/recovery/trigger (SQLite and PostgreSQL)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.models import LeadStatus, Message, MessageCategory, Role
from tests.factories import make_lead, make_tenant, make_user

CAMPAIGN = {
    "name": "Seven-day silent",
    "goal": "reply",
    "audience": {"status": ["silent"]},
    "send_window": {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"},
    "steps": [
        {
            "channel": "sms",
            "delay_minutes": 0,
            "body": "Hi {{first_name}}, still looking? Reply STOP to opt out.",
        },
        {
            "channel": "email",
            "delay_minutes": 1440,
            "subject": "Hi {{first_name}}",
            "body": "Any questions?",
        },
    ],
}


@pytest.fixture
def api(app_database):
    with session_scope() as s:
        tenant = make_tenant(s)
        agent = make_user(s, tenant, role=Role.AGENT)
        _, manager_key = issue_key(s, tenant=tenant, role=Role.MANAGER)
        _, agent_key = issue_key(s, tenant=tenant, role=Role.AGENT, user=agent)
        silent = make_lead(s, tenant, status=LeadStatus.SILENT, first_name="Quinn").id
        theirs = make_lead(s, tenant, status=LeadStatus.SILENT, assigned_user_id=agent.id).id
        other = make_user(s, tenant, role=Role.AGENT)
        not_theirs = make_lead(s, tenant, status=LeadStatus.SILENT, assigned_user_id=other.id).id
    with TestClient(create_api()) as client:
        yield client, {"manager": manager_key, "agent": agent_key}, silent, theirs, not_theirs


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_campaign_crud_and_launch(api) -> None:
    client, keys, *_ = api
    created = client.post(
        "/api/v1/recovery/campaigns", json=CAMPAIGN, headers=auth(keys["manager"])
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (
        body["status"] == "draft"
        and len(body["steps"]) == 2
        and body["channels"] == ["email", "sms"]
    )
    cid = body["id"]

    listed = client.get("/api/v1/recovery/campaigns", headers=auth(keys["agent"])).json()
    assert [c["id"] for c in listed["items"]] == [cid]

    launched = client.patch(
        f"/api/v1/recovery/campaigns/{cid}",
        json={"status": "active"},
        headers=auth(keys["manager"]),
    )
    assert launched.status_code == 200, launched.text
    assert launched.json()["status"] == "active" and launched.json()["enrolled"] == 3

    paused = client.patch(
        f"/api/v1/recovery/campaigns/{cid}",
        json={"status": "paused"},
        headers=auth(keys["manager"]),
    )
    assert paused.json()["status"] == "paused"
    assert (
        client.delete(
            f"/api/v1/recovery/campaigns/{cid}", headers=auth(keys["manager"])
        ).status_code
        == 204
    )
    assert (
        client.get(f"/api/v1/recovery/campaigns/{cid}", headers=auth(keys["manager"])).status_code
        == 404
    )


def test_campaign_errors_are_precise(api) -> None:
    client, keys, *_ = api
    forbidden = client.post(
        "/api/v1/recovery/campaigns", json=CAMPAIGN, headers=auth(keys["agent"])
    )
    assert forbidden.status_code == 403
    bad = dict(CAMPAIGN, audience={"temperature": ["boiling"]})
    refused = client.post("/api/v1/recovery/campaigns", json=bad, headers=auth(keys["manager"]))
    assert refused.status_code == 422
    assert "audience.temperature" in refused.json()["error"]["fields"]
    assert (
        client.get("/api/v1/recovery/campaigns/999999", headers=auth(keys["manager"])).status_code
        == 404
    )
    assert client.get("/api/v1/recovery/campaigns").status_code == 401


def test_trigger_enrolls_in_a_campaign_or_queues_the_next_best_message(api) -> None:
    client, keys, silent, theirs, not_theirs = api
    cid = client.post(
        "/api/v1/recovery/campaigns", json=CAMPAIGN, headers=auth(keys["manager"])
    ).json()["id"]
    client.patch(
        f"/api/v1/recovery/campaigns/{cid}",
        json={"status": "paused"},
        headers=auth(keys["manager"]),
    )
    # A draft campaign cannot take leads; launch it first.
    resumed = client.patch(
        f"/api/v1/recovery/campaigns/{cid}",
        json={"status": "active"},
        headers=auth(keys["manager"]),
    )
    assert resumed.status_code == 200

    enrolled = client.post(
        "/api/v1/recovery/trigger",
        json={"lead_id": silent, "campaign_id": cid},
        headers=auth(keys["manager"]),
    )
    assert enrolled.status_code == 202, enrolled.text
    assert enrolled.json()["action"] == "enrolled" and enrolled.json()["campaign_id"] == cid

    queued = client.post(
        "/api/v1/recovery/trigger",
        json={"lead_id": theirs},
        headers=auth(keys["agent"]) | {"Idempotency-Key": "agent-click-1"},
    )
    assert queued.status_code == 202, queued.text
    out = queued.json()
    assert out["action"] == "queued" and out["channel"] == "sms" and out["drafted_by"] == "template"
    again = client.post(
        "/api/v1/recovery/trigger",
        json={"lead_id": theirs},
        headers=auth(keys["agent"]) | {"Idempotency-Key": "agent-click-1"},
    )
    assert again.json()["message_id"] == out["message_id"]
    with session_scope() as s:
        message = s.get(Message, out["message_id"])
        assert message.category == MessageCategory.MARKETING and "{{" not in message.body
        assert message.sent_by_user_id is not None

    hidden = client.post(
        "/api/v1/recovery/trigger", json={"lead_id": not_theirs}, headers=auth(keys["agent"])
    )
    assert hidden.status_code == 404
    with session_scope() as s:
        assert s.execute(select(Message).where(Message.lead_id == not_theirs)).first() is None
