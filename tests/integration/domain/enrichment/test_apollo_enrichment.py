"""Lead enrichment end to end on both databases: intake queues or applies, the real httpx
client talks to a local server that answers like Apollo's people match, and the answers
(match, no match, 401, 429 with Retry-After, a hang) do what the README promises."""

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.compliance.quiet_hours import (
    LEGAL_WINDOW,
    Window,
    lead_zones,
    next_allowed,
)
from recovery_app.domain.enrichment import config, service
from recovery_app.domain.enrichment.config import ApolloChanges, apollo_status, save_apollo
from recovery_app.domain.leads.intake import Person, intake
from recovery_app.errors import Forbidden
from recovery_app.integrations import http
from recovery_app.jobs.registry import JOBS
from recovery_app.models import Activity, EnrichmentCall, Lead, Role, TenantIntegration
from recovery_app.settings import reload_settings
from tests.factories import make_tenant, make_user, viewer_for
from tests.fakes.providers import FakeApollo, Reply

KEY = "apollo-test-key"
SECRET = "lead-hook-secret"
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def fake_apollo(app_database, monkeypatch):
    apollo = FakeApollo(KEY)
    apollo.add_person("pat@acme.example")
    monkeypatch.setenv("APOLLO_API_BASE_URL", apollo.url)
    monkeypatch.setenv("APOLLO_API_KEY", KEY)
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("LEAD_WEBHOOK_SECRET", SECRET)
    reload_settings()
    http.reset_breakers()
    yield apollo
    apollo.close()
    monkeypatch.undo()
    reload_settings()
    http.reset_breakers()


@pytest.fixture
def office(fake_apollo):
    """An office with enrichment on (the deployment's key) and its manager and agent ids."""
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago", location_id="austin")
        manager = make_user(s, tenant, role=Role.MANAGER)
        agent = make_user(s, tenant, role=Role.AGENT)
        save_apollo(s, viewer=viewer_for(manager), changes=ApolloChanges(enabled=True), now=NOW)
        return {"tenant": tenant.id, "manager": manager.id, "agent": agent.id}


def person(email: str | None = "pat@acme.example", phone: str | None = None, **fields) -> Person:
    return Person(
        **(
            {
                "first_name": "Pat",
                "last_name": "Lee",
                "email": email,
                "phone": phone,
                "source": "web_form",
                "message": None,
                "timezone": None,
                "consent_sms": False,
                "consent_email": False,
                "external_id": None,
                "value_cents": None,
                "attributes": {},
            }
            | fields
        )
    )


def take_in(office, who: Person, at: datetime = NOW) -> int:
    with session_scope() as s:
        from recovery_app.models import Tenant

        tenant = s.get(Tenant, office["tenant"])
        return intake(s, tenant=tenant, person=who, received_at=at, via="test").lead_id


def lead(lead_id: int) -> Lead:
    with session_scope() as s:
        row = s.get(Lead, lead_id)
        assert row is not None
        s.expunge(row)
        return row


def run_job(at: datetime) -> dict:
    with session_scope() as s:
        return JOBS["enrich_leads"].run(s, at)


def manager(office):
    with session_scope() as s:
        from recovery_app.models import User

        user = s.get(User, office["manager"])
        s.expunge(user)
        return viewer_for(user)


def test_a_match_is_stored_on_the_lead_with_its_source_and_rescored(office, fake_apollo) -> None:
    lead_id = take_in(office, person(phone="+15125550100"))
    assert lead(lead_id).enrichment_status == "pending"  # intake never called Apollo
    assert fake_apollo.calls == 0
    before = lead(lead_id).score
    assert run_job(NOW + timedelta(minutes=1))["enriched"] == 1
    found = lead(lead_id)
    assert (found.job_title, found.company, found.seniority) == ("VP of Sales", "Acme Realty", "vp")
    assert found.linkedin_url == "http://www.linkedin.com/in/pat-lee"
    assert found.location == "Denver, Colorado, United States"
    assert (found.enrichment_source, found.enrichment_status) == ("apollo", "done")
    assert found.enriched_at is not None
    # No time zone from the form: Apollo's is used (over the Austin area code's).
    assert found.timezone == "America/Denver"
    factor = next(f for f in found.score_factors if f["factor"] == "decision_maker")
    assert factor == {
        "factor": "decision_maker",
        "label": "Decision-maker: VP of Sales at Acme Realty (Apollo)",
        "points": 8,
    }
    assert found.score == before + 8
    with session_scope() as s:
        changed = s.scalars(
            select(Activity).where(Activity.lead_id == lead_id, Activity.kind == "score_changed")
        ).all()
    assert changed[-1].data["to"] == found.score
    sent = fake_apollo.matches[0]
    assert sent["email"] == "pat@acme.example" and sent["reveal_personal_emails"] is False


def test_the_timezone_from_the_form_wins(office) -> None:
    own = take_in(office, person(timezone="America/New_York"))
    run_job(NOW + timedelta(minutes=1))
    assert lead(own).timezone == "America/New_York"


def test_quiet_hours_follow_the_enriched_timezone(office, fake_apollo) -> None:
    lead_id = take_in(office, person(phone="+15125550102"))
    # Austin phone: Chicago time. 07:30 in Chicago is 06:30 in Denver.
    at = datetime(2026, 12, 8, 13, 30, tzinfo=UTC)
    zones = lead_zones(lead(lead_id).timezone, lead(lead_id).phone, "America/Chicago")
    assert zones == ("America/Chicago",)
    run_job(NOW + timedelta(minutes=1))
    found = lead(lead_id)
    zones = lead_zones(found.timezone, found.phone, "America/Chicago")
    assert zones == ("America/Denver",)
    # 08:00 in Denver is 15:00 UTC, an hour later than Chicago's 14:00.
    assert next_allowed(at, zones, Window(*LEGAL_WINDOW)) == datetime(
        2026, 12, 8, 15, 0, tzinfo=UTC
    )


def test_no_match_is_cached_too_and_the_cache_lasts_30_days(office, fake_apollo) -> None:
    first = take_in(office, person(email="nobody@nowhere.example"))
    run_job(NOW + timedelta(minutes=1))
    assert lead(first).enrichment_status == "no_match"
    assert fake_apollo.calls == 1
    # The same address in another office on the same key: answered from the cache at intake.
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago")
        boss = make_user(s, tenant, role=Role.MANAGER)
        save_apollo(s, viewer=viewer_for(boss), changes=ApolloChanges(enabled=True), now=NOW)
        other = {"tenant": tenant.id}
    second = take_in(other, person(email="nobody@nowhere.example"), at=NOW + timedelta(days=29))
    assert lead(second).enrichment_status == "no_match"
    assert fake_apollo.calls == 1
    # After 30 days the answer is stale: a new call.
    fake_apollo.add_person("nobody@nowhere.example", title="Broker", seniority="owner")
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago")
        boss = make_user(s, tenant, role=Role.MANAGER)
        save_apollo(s, viewer=viewer_for(boss), changes=ApolloChanges(enabled=True), now=NOW)
        third_office = {"tenant": tenant.id}
    late = NOW + timedelta(days=31)
    third = take_in(third_office, person(email="nobody@nowhere.example"), at=late)
    assert lead(third).enrichment_status == "pending"
    run_job(late + timedelta(minutes=1))
    assert fake_apollo.calls == 2
    assert lead(third).job_title == "Broker"


def test_a_match_is_reused_without_a_call_within_30_days(office, fake_apollo) -> None:
    first = take_in(office, person())
    run_job(NOW + timedelta(minutes=1))
    assert fake_apollo.calls == 1
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago")
        boss = make_user(s, tenant, role=Role.MANAGER)
        save_apollo(s, viewer=viewer_for(boss), changes=ApolloChanges(enabled=True), now=NOW)
        other = {"tenant": tenant.id}
    second = take_in(other, person(), at=NOW + timedelta(days=10))
    found = lead(second)
    assert (found.enrichment_status, found.job_title) == ("done", "VP of Sales")
    # Counted in the first score: the factor is there at intake.
    assert any(f["factor"] == "decision_maker" for f in found.score_factors)
    assert fake_apollo.calls == 1
    assert lead(first).job_title == "VP of Sales"


def test_an_office_with_its_own_key_has_its_own_cache(office, fake_apollo) -> None:
    take_in(office, person())
    run_job(NOW + timedelta(minutes=1))
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago")
        boss = make_user(s, tenant, role=Role.MANAGER)
        save_apollo(
            s,
            viewer=viewer_for(boss),
            changes=ApolloChanges(enabled=True, key="another-account-key"),
            now=NOW,
        )
        other = {"tenant": tenant.id}
    second = take_in(other, person(), at=NOW + timedelta(days=1))
    assert lead(second).enrichment_status == "pending"


def test_budget_reached_means_no_call_and_the_lead_says_why(office, fake_apollo) -> None:
    with session_scope() as s:
        save_apollo(
            s,
            viewer=manager(office),
            changes=ApolloChanges(enabled=True, monthly_budget="1"),
            now=NOW,
        )
    take_in(office, person())
    second = take_in(office, person(email="two@acme.example"))
    run_job(NOW + timedelta(minutes=1))
    assert fake_apollo.calls == 1
    found = lead(second)
    assert found.enrichment_status == "skipped"
    assert "monthly budget of 1 Apollo lookups is used up" in (found.enrichment_note or "")
    with session_scope() as s:
        status = apollo_status(s, viewer=manager(office), now=NOW)
    assert (status.calls_this_month, status.monthly_budget) == (1, 1)


def test_a_refused_key_needs_attention_with_apollos_words_and_no_retry_storm(
    office, fake_apollo
) -> None:
    with session_scope() as s:
        save_apollo(
            s,
            viewer=manager(office),
            changes=ApolloChanges(enabled=True, key="expired-key"),
            now=NOW,
        )
    ids = [take_in(office, person(email=f"p{n}@acme.example")) for n in range(3)]
    run_job(NOW + timedelta(minutes=1))
    # The first 401 marks the key; the other leads wait without calling.
    with session_scope() as s:
        status = apollo_status(s, viewer=manager(office), now=NOW)
    assert status.state == "needs_attention"
    assert status.last_error == (
        "Apollo answered 401: Invalid access credentials. (check the API key)"
    )
    calls = fake_apollo.calls
    assert calls <= 3
    for minute in range(2, 30):
        run_job(NOW + timedelta(minutes=minute))
    assert fake_apollo.calls == calls  # nothing more with that key
    assert all(lead(i).enrichment_status == "pending" for i in ids)
    assert "needs attention" in (lead(ids[-1]).enrichment_note or "")
    # A working key: the waiting leads go at once.
    with session_scope() as s:
        save_apollo(
            s, viewer=manager(office), changes=ApolloChanges(enabled=True, key=KEY), now=NOW
        )
    run_job(NOW + timedelta(minutes=31))
    assert {lead(i).enrichment_status for i in ids} == {"no_match"}


def test_429_honours_retry_after_and_the_office_waits(office, fake_apollo) -> None:
    first = take_in(office, person())
    second = take_in(office, person(email="two@acme.example"))
    fake_apollo.then(Reply(429, headers={"Retry-After": "600"}))
    at = NOW + timedelta(minutes=1)
    run_job(at)
    # One request: Retry-After beyond 5 s ends the call at once, and the office pauses.
    assert fake_apollo.calls <= 2
    calls = fake_apollo.calls
    waiting = [lead(first), lead(second)]
    assert any("429" in (w.enrichment_note or "") for w in waiting)
    for w in waiting:
        if w.enrichment_status == "pending":
            assert w.enrichment_due_at is not None
            assert w.enrichment_due_at >= at + timedelta(seconds=600)
    run_job(at + timedelta(minutes=5))
    assert fake_apollo.calls == calls  # still inside Apollo's wait
    run_job(at + timedelta(hours=2))
    assert lead(first).enrichment_status == "done"
    assert lead(second).enrichment_status == "no_match"


def post(client, body):
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        "/api/v1/webhooks/leads",
        content=raw,
        headers={"Content-Type": "application/json", "X-Signature-256": signature},
    )


def test_intake_answers_fast_when_apollo_hangs_and_the_job_enriches_later(
    office, fake_apollo
) -> None:
    fake_apollo.then(Reply(200, delay=30, record=True))  # hangs far past the 2 s budget
    with TestClient(create_api()) as client:
        started = time.monotonic()
        response = post(client, {"location_id": "austin", "email": "pat@acme.example"})
        took = time.monotonic() - started
    assert response.status_code == 201
    # Apollo answers after 30 s: an intake that waited for it would take longer than that. The
    # margin over the 2 s budget is the intake's own work on a busy 2-core machine (13.4 s
    # once against a 12 s hang, under a full make test on PostgreSQL; 2.3 s when quiet).
    assert took < 20.0, took
    lead_id = response.json()["lead_id"]
    found = lead(lead_id)
    assert found.enrichment_status == "pending" and found.job_title is None
    assert "did not answer within 2 s" in (found.enrichment_note or "")
    # Apollo is back: the job (after the claim's lease) enriches and rescores the lead.
    later = datetime.now(UTC) + timedelta(minutes=3)
    assert run_job(later)["enriched"] == 1
    found = lead(lead_id)
    assert found.job_title == "VP of Sales"
    assert any(f["factor"] == "decision_maker" for f in found.score_factors)
    with session_scope() as s:
        unknown = s.scalar(
            select(func.count())
            .select_from(EnrichmentCall)
            .where(EnrichmentCall.outcome == "unknown")
        )
    assert unknown == 1  # the abandoned call counts against the budget (it may have cost)


def test_intake_enriches_inline_when_apollo_answers_in_time(office, fake_apollo) -> None:
    with TestClient(create_api()) as client:
        response = post(client, {"location_id": "austin", "email": "pat@acme.example"})
    assert response.status_code == 201
    body = response.json()
    found = lead(body["lead_id"])
    assert found.enrichment_status == "done"
    assert body["score"] == found.score  # the answer carries the enriched score


def test_intake_is_untouched_when_apollo_is_unreachable(office, fake_apollo, monkeypatch) -> None:
    monkeypatch.setenv("APOLLO_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    reload_settings()
    with TestClient(create_api()) as client:
        response = post(client, {"location_id": "austin", "email": "pat@acme.example"})
    assert response.status_code == 201
    assert lead(response.json()["lead_id"]).enrichment_status == "pending"


def test_off_unless_the_office_turns_it_on(fake_apollo) -> None:
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago")
        office = {"tenant": tenant.id}
    lead_id = take_in(office, person())
    assert lead(lead_id).enrichment_status is None
    run_job(NOW + timedelta(minutes=1))
    assert fake_apollo.calls == 0


def test_test_connection_shows_the_answer_and_the_exact_error(office, fake_apollo) -> None:
    viewer = manager(office)
    with session_scope() as s:
        target = service.test_target(s, viewer=viewer)
    answer = asyncio.run(service.test_connection(target))
    assert answer.detail == 'Apollo answered 200 {"healthy": true, "is_logged_in": true}'
    with session_scope() as s:
        save_apollo(s, viewer=viewer, changes=ApolloChanges(enabled=True, key="wrong-key"), now=NOW)
        target = service.test_target(s, viewer=viewer)
    answer = asyncio.run(service.test_connection(target))
    assert answer.detail == "Apollo answered 401: Invalid access credentials. (check the API key)"
    with session_scope() as s:
        service.record_test(s, viewer=viewer, target=target, answer=answer, now=NOW)
        assert apollo_status(s, viewer=viewer, now=NOW).state == "needs_attention"


def test_agents_cannot_see_or_change_enrichment(office) -> None:
    with session_scope() as s:
        from recovery_app.models import User

        agent = viewer_for(s.get(User, office["agent"]))  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            save_apollo(s, viewer=agent, changes=ApolloChanges(enabled=False), now=NOW)
        with pytest.raises(Forbidden):
            apollo_status(s, viewer=agent, now=NOW)
        with pytest.raises(Forbidden):
            service.test_target(s, viewer=agent)
        row = s.scalar(select(TenantIntegration).where(TenantIntegration.integration == "apollo"))
        assert row is not None and row.enabled is True
    assert config.APOLLO == "apollo"
