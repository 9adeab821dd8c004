"""AI steps through the sweep with a local Anthropic server: autopilot sends the AI text (one AI
call per segment, reused), review mode queues drafts for approval; approve, edit, reject and
approve-all; a stopped nurture discards its drafts (SQLite and PostgreSQL)."""

import pytest
from sqlalchemy import select, update

from recovery_app.db import session_scope
from recovery_app.domain.campaigns import review
from recovery_app.domain.campaigns.schemas import StepIn
from recovery_app.domain.campaigns.sweep import run_sweep
from recovery_app.domain.leads import timeline
from recovery_app.errors import Conflict, ValidationFailed
from recovery_app.messaging.drafting import reset_drafter
from recovery_app.models import (
    AiDraft,
    Channel,
    DraftReview,
    DraftStatus,
    Enrollment,
    Lead,
    LeadStatus,
    Message,
)
from recovery_app.settings import reload_settings
from tests.factories import NOW, make_lead, make_tenant, make_user, manager_of
from tests.fakes.anthropic_api import FakeAnthropic

AI_STEP = [
    StepIn(
        channel=Channel.SMS,
        body="Hi {{first_name}}, template text. Reply STOP to opt out.",
        ai_personalize=True,
    )
]


@pytest.fixture
def ai(app_database, monkeypatch):
    server = FakeAnthropic()
    monkeypatch.setenv("ANTHROPIC_API_KEY", FakeAnthropic.API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    reload_settings()
    reset_drafter()
    yield server
    server.close()
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    reload_settings()
    reset_drafter()


def setup(make_campaign, *, leads=4, autopilot=True):
    with session_scope() as s:
        tenant = make_tenant(s)
        for i in range(leads):
            make_lead(s, tenant, status=LeadStatus.SILENT, first_name=f"Ann{i}", score=50)
        campaign = make_campaign(s, manager_of(tenant), steps=AI_STEP, autopilot=autopilot)
        return tenant.id, campaign.id


def test_autopilot_sends_ai_text_with_one_call_per_segment(ai, make_campaign) -> None:
    setup(make_campaign)
    with session_scope() as s:
        stats = run_sweep(s, NOW)
    assert stats["steps_queued"] == 4 and stats["ai_drafts"] == 1
    assert len(ai.requests) == 1  # the same (step, segment) for all four leads
    with session_scope() as s:
        messages = s.execute(select(Message).order_by(Message.id)).scalars().all()
        assert [m.drafted_by for m in messages] == ["ai", "ai_cached", "ai_cached", "ai_cached"]
        assert messages[1].body.startswith("Hi Ann1, it's our team.")
        assert s.execute(select(AiDraft.uses)).scalar_one() == 4


def test_review_mode_waits_for_a_person(ai, make_campaign) -> None:
    tenant_id, campaign_id = setup(make_campaign, autopilot=False)
    with session_scope() as s:
        stats = run_sweep(s, NOW)
    assert stats["sent_to_review"] == 4 and stats["steps_queued"] == 0
    with session_scope() as s:
        assert s.execute(select(Message)).first() is None
        tenant_viewer = manager_of(_tenant(s, tenant_id))
        pending = review.pending(s, viewer=tenant_viewer)
        assert len(pending) == 4 and pending[0].campaign_name == "Win back"
        first, second, third, fourth = (p.review for p in pending)
        sent = review.approve(s, viewer=tenant_viewer, review_id=first.id, now=NOW)
        assert sent is not None and sent.drafted_by == "ai" and "it's our team" in sent.body
        edited = review.approve(
            s,
            viewer=tenant_viewer,
            review_id=second.id,
            now=NOW,
            body="Hi Ann1, edited by hand. Reply STOP to opt out.",
        )
        assert edited.body == "Hi Ann1, edited by hand. Reply STOP to opt out."
        with pytest.raises(ValidationFailed):
            review.approve(s, viewer=tenant_viewer, review_id=third.id, now=NOW, body="x" * 400)
        rejected = review.reject(s, viewer=tenant_viewer, review_id=third.id, now=NOW)
        assert rejected.drafted_by == "template" and "template text" in rejected.body
        with pytest.raises(Conflict):
            review.reject(s, viewer=tenant_viewer, review_id=third.id, now=NOW)
        # The fourth lead replies before anyone decides: its draft is discarded.
        lead = s.get(Lead, fourth.lead_id)
        timeline.stop_enrollments(s, lead, reason="replied", now=NOW)
        s.expire_all()
        assert s.get(DraftReview, fourth.id).status == DraftStatus.DISCARDED
        assert review.approve_all(s, viewer=tenant_viewer, campaign_id=campaign_id, now=NOW) == 0
        assert all(
            e.current_step == 1
            for e in s.execute(select(Enrollment)).scalars()
            if e.status != "stopped"
        )


def test_approve_all_sends_every_pending_draft(ai, make_campaign) -> None:
    tenant_id, campaign_id = setup(make_campaign, autopilot=False, leads=3)
    with session_scope() as s:
        run_sweep(s, NOW)
    with session_scope() as s:
        viewer = manager_of(_tenant(s, tenant_id))
        assert review.approve_all(s, viewer=viewer, campaign_id=campaign_id, now=NOW) == 3
        assert len(s.execute(select(Message)).all()) == 3
        assert review.pending(s, viewer=viewer) == []


def _tenant(session, tenant_id):
    from recovery_app.models import Tenant

    return session.get(Tenant, tenant_id)


def test_the_queue_over_rest(ai, make_campaign) -> None:
    from fastapi.testclient import TestClient

    from recovery_app.api.app import create_api
    from recovery_app.domain.accounts.api_keys import issue_key
    from recovery_app.models import Role

    tenant_id, campaign_id = setup(make_campaign, autopilot=False, leads=4)
    with session_scope() as s:
        run_sweep(s, NOW)
        _, key = issue_key(s, tenant=_tenant(s, tenant_id), role=Role.MANAGER)
        _, stranger = issue_key(s, tenant=make_tenant(s), role=Role.MANAGER)
        # An agent of the office sees the drafts of their own leads only: Ann3 is theirs.
        agent = make_user(s, _tenant(s, tenant_id))
        s.execute(update(Lead).where(Lead.first_name == "Ann3").values(assigned_user_id=agent.id))
        _, agent_key = issue_key(s, tenant=_tenant(s, tenant_id), role=Role.AGENT, user=agent)
    client = TestClient(create_api())
    mine, theirs = ({"Authorization": f"Bearer {k}"} for k in (key, stranger))
    agents = client.get(
        "/api/v1/recovery/reviews", headers={"Authorization": f"Bearer {agent_key}"}
    )
    assert [r["lead_name"].split()[0] for r in agents.json()["items"]] == ["Ann3"]

    listed = client.get("/api/v1/recovery/reviews", headers=mine).json()["items"]
    assert [r["lead_name"].split()[0] for r in listed] == ["Ann0", "Ann1", "Ann2", "Ann3"]
    assert listed[0]["campaign_name"] == "Win back" and listed[0]["drafted_by"] == "ai"
    assert client.get("/api/v1/recovery/reviews", headers=theirs).json()["items"] == []
    first, second = listed[0]["id"], listed[1]["id"]
    url = "/api/v1/recovery/reviews/{}/{}"
    assert client.post(url.format(first, "approve"), json={}, headers=theirs).status_code == 404
    edited = client.post(
        url.format(first, "approve"),
        json={"body": "Hi Ann0, by hand. Reply STOP to opt out."},
        headers=mine,
    )
    assert edited.status_code == 200 and edited.json()["status"] == "approved"
    bad = client.post(url.format(second, "approve"), json={"body": "x" * 400}, headers=mine)
    assert bad.status_code == 422 and "body" in bad.json()["error"]["fields"]
    assert client.post(url.format(second, "reject"), headers=mine).json()["status"] == "rejected"
    assert client.post(url.format(second, "reject"), headers=mine).status_code == 409
    everything = client.post(
        "/api/v1/recovery/reviews/approve-all", json={"campaign_id": campaign_id}, headers=mine
    )
    assert everything.json() == {"approved": 2}
    with session_scope() as s:
        bodies = [m.body for m in s.execute(select(Message).order_by(Message.id)).scalars()]
    assert bodies[0] == "Hi Ann0, by hand. Reply STOP to opt out." and len(bodies) == 4
