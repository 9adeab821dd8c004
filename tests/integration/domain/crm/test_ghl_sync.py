"""GoHighLevel write-backs end to end on both databases: the lead's changes queue rows in the
transaction that made them, the `ghl_sync` job writes them with the real httpx client to a
local server that answers like LeadConnector v2, and retries, timeouts, 429s and refused tokens
do what the README promises."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.db import session_scope
from recovery_app.domain.analytics.conversions import record_conversion
from recovery_app.domain.crm import sync, writeback
from recovery_app.domain.crm.config import GhlChanges, ghl_status, save_ghl
from recovery_app.domain.leads import timeline
from recovery_app.domain.leads.intake import Person, intake
from recovery_app.domain.leads.privacy import erase_lead, export_lead
from recovery_app.errors import Conflict
from recovery_app.integrations import http
from recovery_app.jobs.registry import JOBS
from recovery_app.models import (
    AuditLog,
    Channel,
    Direction,
    GhlWrite,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    MessageStatus,
    Role,
    Tenant,
    TenantIntegration,
    User,
)
from recovery_app.settings import reload_settings
from tests.factories import make_tenant, make_user, viewer_for
from tests.fakes.ghl_api import FakeGhl, Reply

TOKEN = "pit-office-token"
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def fake_ghl(app_database, monkeypatch):
    server = FakeGhl(TOKEN, "loc-austin")
    monkeypatch.setenv("GHL_API_BASE_URL", server.url)
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "1")
    # The pacer spaces calls evenly (100 per 10 s: one per 0.1 s); tests need not wait that.
    monkeypatch.setenv("GHL_BURST_LIMIT", "1000")
    reload_settings()
    http.reset_breakers()
    yield server
    server.close()
    monkeypatch.undo()
    reload_settings()
    http.reset_breakers()


@pytest.fixture
def office(fake_ghl):
    """An office syncing with GoHighLevel, its manager and agent."""
    with session_scope() as s:
        tenant = make_tenant(s, timezone="America/Chicago", location_id="loc-austin")
        manager = make_user(s, tenant, role=Role.MANAGER)
        agent = make_user(s, tenant, role=Role.AGENT)
        save_ghl(
            s,
            viewer=viewer_for(manager),
            changes=GhlChanges(token=TOKEN, enabled=True),
            now=NOW,
        )
        return {"tenant": tenant.id, "manager": manager.id, "agent": agent.id}


def person(email: str = "pat@acme.example", **fields) -> Person:
    return Person(
        **(
            {
                "first_name": "Pat",
                "last_name": "Lee",
                "email": email,
                "phone": None,
                "source": "web_form",
                "message": "Looking for a 3-bed in Austin",
                "timezone": None,
                "consent_sms": True,
                "consent_email": True,
                "external_id": None,
                "value_cents": None,
                "attributes": {},
            }
            | fields
        )
    )


def take_in(office, who: Person | None = None) -> int:
    with session_scope() as s:
        tenant = s.get(Tenant, office["tenant"])
        return intake(
            s, tenant=tenant, person=who or person(), received_at=NOW, via="test", respond=False
        ).lead_id


def manager(office):
    with session_scope() as s:
        user = s.get(User, office["manager"])
        s.expunge(user)
        return viewer_for(user)


def run_sync(at: datetime = NOW) -> dict:
    with session_scope() as s:
        return JOBS["ghl_sync"].run(s, at)


def writes(lead_id: int) -> dict[str, GhlWrite]:
    with session_scope() as s:
        rows = s.scalars(select(GhlWrite).where(GhlWrite.lead_id == lead_id)).all()
        for row in rows:
            s.expunge(row)
        return {row.idempotency_key.split(":")[1]: row for row in rows}


def message(
    lead_id: int, *, direction: Direction, body: str, provider: str = "twilio", n: int = 1
) -> None:
    """A recovery text that went out, or a reply that came in, recorded as production does."""
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        row = Message(
            tenant_id=lead.tenant_id,
            lead_id=lead_id,
            channel=Channel.SMS,
            direction=direction,
            category=MessageCategory.MARKETING,
            status=MessageStatus.SENT
            if direction == Direction.OUTBOUND
            else MessageStatus.RECEIVED,
            body=body,
            idempotency_key=f"test:{direction}:{lead_id}:{n}",
            provider=provider,
            sent_at=NOW,
        )
        s.add(row)
        s.flush()
        if direction == Direction.OUTBOUND:
            timeline.record_outbound(s, lead, row, now=NOW)
        else:
            timeline.record_reply(s, lead, row, now=NOW)


def test_every_kind_of_write_back_reaches_ghl(office, fake_ghl) -> None:
    lead_id = take_in(office)
    assert fake_ghl.requests() == []  # intake only queued
    assert set(writes(lead_id)) == {"fields"}
    counts = run_sync()
    assert counts["done"] == 1
    contact = fake_ghl.contact_by_email("pat@acme.example")
    assert contact is not None and contact["firstName"] == "Pat"
    with session_scope() as s:
        stored = s.get(Lead, lead_id)
        assert stored is not None
        assert stored.crm_contact_id == contact["id"]
        score, temperature = stored.score, str(stored.temperature)
    # The score and temperature went to two custom fields, created in the location.
    names = {f["id"]: f["name"] for f in fake_ghl.fields}
    assert {names[v["id"]]: v["value"] for v in contact["customFields"]} == {
        "Recovery score": score,
        "Recovery temperature": temperature,
    }

    message(lead_id, direction=Direction.OUTBOUND, body="Still looking, Pat? <3 beds>")
    message(lead_id, direction=Direction.INBOUND, body="Yes! Call me tomorrow")
    run_sync(NOW + timedelta(minutes=1))
    assert "recovery:engaged" in contact["tags"]
    assert "recovery:contacted" not in contact["tags"]  # the old status tag was removed
    notes = fake_ghl.notes[contact["id"]]
    assert [n["body"].splitlines()[0] for n in notes] == [
        "Recovery text sent:",
        "Reply by text:",
    ]
    assert "&lt;3 beds&gt;" in notes[0]["body"]  # the lead's words are never markup there

    with session_scope() as s:
        deal = record_conversion(
            s,
            viewer=manager(office),
            lead_id=lead_id,
            value_cents=450_000_00,
            closed_at=NOW,
            now=NOW,
        )
        assert deal.id is not None
    run_sync(NOW + timedelta(minutes=2))
    (won,) = fake_ghl.opportunities.values()
    assert (won["pipelineId"], won["pipelineStageId"], won["status"]) == (
        "pipe-sales",
        "stage-won",
        "won",
    )
    assert won["monetaryValue"] == 450_000 and won["contactId"] == contact["id"]
    assert "recovery:converted" in contact["tags"]
    log = writes(lead_id)
    assert {k: r.status for k, r in log.items()} == {
        "fields": "done",
        "status": "done",
        "note": "done",
        "opportunity": "done",
    }
    assert log["opportunity"].ghl_id == won["id"]
    # Every call carried the token and the API version GoHighLevel requires.
    assert all(r.status < 400 for r in fake_ghl.requests())


def test_a_note_whose_answer_timed_out_is_found_not_posted_twice(office, fake_ghl) -> None:
    lead_id = take_in(office)
    run_sync()
    message(lead_id, direction=Direction.OUTBOUND, body="A recovery text")
    # GoHighLevel makes the note, then does not answer within the 1 s timeout.
    fake_ghl.arrange("POST", "/notes", Reply(status=201, delay=1.5), carry_out=True)
    counts = run_sync(NOW + timedelta(minutes=1))
    assert counts["done"] >= 1
    contact = fake_ghl.contact_by_email("pat@acme.example")
    assert contact is not None
    assert len(fake_ghl.notes[contact["id"]]) == 1
    note = writes(lead_id)["note"]
    assert note.status == "done" and note.ghl_id == fake_ghl.notes[contact["id"]][0]["id"]
    assert "but note" in (note.result or "")
    # A retry after that (say the run died before recording) still makes no second note.
    with session_scope() as s:
        row = s.get(GhlWrite, note.id)
        assert row is not None
        row.status, row.ghl_id, row.attempts, row.next_attempt_at = "queued", None, 1, None
    run_sync(NOW + timedelta(minutes=2))
    assert len(fake_ghl.notes[contact["id"]]) == 1
    assert writes(lead_id)["note"].result.startswith("Found note")  # type: ignore[union-attr]


def test_the_same_message_is_one_note_however_often_it_is_queued(office, fake_ghl) -> None:
    lead_id = take_in(office)
    message(lead_id, direction=Direction.OUTBOUND, body="Once")
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        row = s.scalars(select(Message).where(Message.lead_id == lead_id)).one()
        assert lead is not None
        writeback.message_noted(s, lead, row, now=NOW)  # noticed again (a replayed webhook)
    run_sync()
    run_sync(NOW + timedelta(minutes=1))
    contact = fake_ghl.contact_by_email("pat@acme.example")
    assert contact is not None and len(fake_ghl.notes[contact["id"]]) == 1


def test_429_waits_as_long_as_ghl_asks(office, fake_ghl) -> None:
    lead_id = take_in(office)
    fake_ghl.arrange("POST", "/contacts/upsert", Reply(status=429, headers={"Retry-After": "120"}))
    counts = run_sync()
    assert counts["retrying"] == 1
    row = writes(lead_id)["fields"]
    assert row.status == "queued" and row.next_attempt_at is not None
    assert row.next_attempt_at >= NOW + timedelta(seconds=120)
    with session_scope() as s:
        status = ghl_status(s, viewer=manager(office), now=NOW)
    assert status.paused_until == NOW + timedelta(seconds=120)
    calls = len(fake_ghl.requests())
    assert run_sync(NOW + timedelta(seconds=60))["claimed"] == 0  # not due, nothing called
    assert len(fake_ghl.requests()) == calls
    assert run_sync(NOW + timedelta(seconds=121))["done"] == 1


def test_a_refused_token_needs_attention_and_stops_the_calls(office, fake_ghl) -> None:
    first = take_in(office)
    second = take_in(office, person("sam@acme.example", first_name="Sam"))
    fake_ghl.token = "pit-rotated"  # the office's token was revoked at GoHighLevel
    counts = run_sync()
    assert counts["needs_attention"] == 1 and counts["untried"] == 1
    assert len(fake_ghl.requests()) == 1  # the first 401 stopped the rest
    with session_scope() as s:
        status = ghl_status(s, viewer=manager(office), now=NOW)
    assert status.state == "needs_attention"
    assert status.last_error == (
        "GoHighLevel answered 401: Invalid token: access token is invalid (check the token)"
    )
    # Later runs call nothing: the writes wait for a person.
    for minutes in (11, 22, 33):
        run_sync(NOW + timedelta(minutes=minutes))
    assert len(fake_ghl.requests()) == 1
    assert {writes(first)["fields"].status, writes(second)["fields"].status} == {"queued"}
    assert "needs attention" in (writes(second)["fields"].error or "")
    # Saving the settings again (with the new token) lifts it and the writes go.
    with session_scope() as s:
        save_ghl(
            s,
            viewer=manager(office),
            changes=GhlChanges(token="pit-rotated", enabled=True),
            now=NOW + timedelta(minutes=40),
        )
    assert run_sync(NOW + timedelta(minutes=40))["done"] == 2


def test_test_connection_shows_the_answer_or_the_exact_error(office, fake_ghl) -> None:
    for n in range(3):
        fake_ghl.add_contact(email=f"c{n}@x.example")
    import asyncio

    viewer = manager(office)
    with session_scope() as s:
        target = sync.test_target(s, viewer=viewer)
    result = asyncio.run(sync.test_connection(target))
    assert result.answer.detail == (
        "GoHighLevel answered 200: location loc-austin has 3 contacts; 1 pipeline (Sales)"
    )
    with session_scope() as s:
        sync.record_test(s, viewer=viewer, target=target, result=result, now=NOW)
        status = ghl_status(s, viewer=viewer, now=NOW)
    assert status.state == "ok"
    assert [s["stage"] for s in status.stages] == ["New lead", "Closed won"]
    assert status.daily_remaining is not None
    # A stage from the list can be chosen now; an unknown one is refused.
    with session_scope() as s:
        save_ghl(
            s,
            viewer=viewer,
            changes=GhlChanges(enabled=True, won_stage="pipe-sales/stage-new"),
            now=NOW,
        )
    with pytest.raises(Exception, match="invalid"), session_scope() as s:
        save_ghl(s, viewer=viewer, changes=GhlChanges(enabled=True, won_stage="x/y"), now=NOW)

    fake_ghl.location_id = "another-location"
    result = asyncio.run(sync.test_connection(target))
    assert result.answer.detail == (
        "GoHighLevel answered 403: The token does not have access to this location. "
        "(check the token)"
    )
    with session_scope() as s:
        sync.record_test(s, viewer=viewer, target=target, result=result, now=NOW)
        assert ghl_status(s, viewer=viewer, now=NOW).state == "needs_attention"


def test_resync_upserts_the_contact_and_rewrites_status_and_fields(office, fake_ghl) -> None:
    lead_id = take_in(office)
    run_sync()
    contact = fake_ghl.contact_by_email("pat@acme.example")
    assert contact is not None
    fake_ghl.contacts.pop(contact["id"])  # someone deleted the contact in GoHighLevel
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        timeline.set_status(s, lead, LeadStatus.ENGAGED, now=NOW)
    run_sync(NOW + timedelta(minutes=1))
    status = writes(lead_id)["status"]
    assert status.status == "failed" and "Resync makes it again" in (status.error or "")
    with session_scope() as s:
        assert s.get(Lead, lead_id).crm_contact_id is None  # type: ignore[union-attr]
        queued = writeback.resync(s, viewer=manager(office), lead_id=lead_id, now=NOW)
    assert queued == 4  # the failed status write, and contact + status + fields
    run_sync(NOW + timedelta(minutes=2))
    again = fake_ghl.contact_by_email("pat@acme.example")
    assert again is not None and again["id"] != contact["id"]
    assert again["tags"] == ["recovery:engaged"]
    assert {r.status for r in writes(lead_id).values()} == {"done"}
    with session_scope() as s:
        assert s.get(Lead, lead_id).crm_contact_id == again["id"]  # type: ignore[union-attr]


def test_nothing_is_queued_while_the_sync_is_off(office, fake_ghl) -> None:
    with session_scope() as s:
        save_ghl(s, viewer=manager(office), changes=GhlChanges(enabled=False), now=NOW)
    lead_id = take_in(office)
    assert writes(lead_id) == {}
    with pytest.raises(Conflict), session_scope() as s:
        writeback.resync(s, viewer=manager(office), lead_id=lead_id, now=NOW)


def test_burst_limit_is_kept_per_location(office, fake_ghl, monkeypatch) -> None:
    # GoHighLevel's 100 per 10 s, scaled down so the test takes a second or two.
    fake_ghl.burst, fake_ghl.window = 20, 0.5
    monkeypatch.setenv("GHL_BURST_LIMIT", "20")
    monkeypatch.setenv("GHL_BURST_WINDOW_SECONDS", "0.5")
    reload_settings()
    for n in range(20):
        take_in(office, person(f"lead{n}@acme.example", first_name=f"Lead{n}"))
    counts = run_sync()
    assert counts["done"] == 20
    assert len(fake_ghl.requests()) >= 43  # 20 upserts, the field lookup and creation, 20 PUTs
    assert fake_ghl.max_in_window() <= 20
    assert all(r.status != 429 for r in fake_ghl.requests())


def test_export_lists_slack_alerts_and_the_sync_log_and_erasure_drops_them(office) -> None:
    lead_id = take_in(office)
    run_sync()
    with session_scope() as s:
        data = export_lead(s, viewer=manager(office), lead_id=lead_id)
    assert [row["kind"] for row in data["ghl_sync_log"]] == ["fields"]
    assert data["slack_alerts"] == []
    with session_scope() as s:
        erase_lead(s, viewer=manager(office), lead_id=lead_id, now=NOW)
    with session_scope() as s:
        left = s.scalar(select(func.count()).select_from(GhlWrite))
        row = s.scalars(select(TenantIntegration)).one()
    assert left == 0 and row.integration == "ghl"


def run_import(at: datetime = NOW, page_size: int = 10) -> dict:
    from recovery_app.domain.crm import importer

    with session_scope() as s:
        return importer.run_job(s, at, page_size=page_size)


def test_the_import_pages_through_every_contact_and_merges_known_people(office, fake_ghl) -> None:
    known = take_in(office, person("c3@x.example", first_name="Known"))
    for n in range(24):
        fake_ghl.add_contact(email=f"c{n}@x.example", firstName=f"C{n}")
    fake_ghl.add_contact(email=None, phone=None, firstName="Nobody")  # nothing to know them by
    with session_scope() as s:
        from recovery_app.domain.crm.config import start_import

        status = start_import(s, viewer=manager(office), now=NOW)
    assert status.import_progress["status"] == "running"
    from recovery_app.domain.crm import importer

    importer.import_office(office["tenant"], deadline=0, page_size=10)  # no time left: nothing
    with session_scope() as s:
        progress = ghl_status(s, viewer=manager(office), now=NOW).import_progress
    assert progress["seen"] == 0
    counts = run_import(page_size=10)
    assert counts["pages"] == 3 and counts["contacts"] == 25
    with session_scope() as s:
        progress = ghl_status(s, viewer=manager(office), now=NOW).import_progress
        leads = s.scalar(select(func.count()).select_from(Lead))
        merged = s.get(Lead, known)
        assert merged is not None
        assert merged.crm_contact_id == fake_ghl.contact_by_email("c3@x.example")["id"]  # type: ignore[index]
    assert (progress["status"], progress["total"], progress["seen"]) == ("done", 25, 25)
    assert (progress["imported"], progress["merged"], progress["rejected"]) == (23, 1, 1)
    assert leads == 24  # 23 new, the known one merged, the one without email or phone not
    paged = fake_ghl.requests("GET", "/contacts/")
    assert len(paged) == 3
    # No first response went out to anyone imported.
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0


def test_an_import_stopped_by_a_refused_token_resumes_from_its_cursor(office, fake_ghl) -> None:
    from recovery_app.domain.crm.config import start_import

    for n in range(15):
        fake_ghl.add_contact(email=f"r{n}@x.example")
    with session_scope() as s:
        start_import(s, viewer=manager(office), now=NOW)
    # The first page arrives; the token is revoked before the second.
    fake_ghl.arrange("GET", "/contacts", Reply(status=200), carry_out=True)
    fake_ghl.arrange("GET", "/contacts", Reply(status=401, message="Invalid JWT"))
    run_import(page_size=10)
    with session_scope() as s:
        status = ghl_status(s, viewer=manager(office), now=NOW)
    assert (status.import_progress["status"], status.import_progress["seen"]) == ("paused", 10)
    assert status.state == "needs_attention"
    assert (
        status.import_progress["error"] == "GoHighLevel answered 401: Invalid JWT (check the token)"
    )
    with session_scope() as s:
        save_ghl(s, viewer=manager(office), changes=GhlChanges(enabled=True), now=NOW)
        start_import(s, viewer=manager(office), now=NOW)
    run_import(page_size=10)
    with session_scope() as s:
        progress = ghl_status(s, viewer=manager(office), now=NOW).import_progress
    assert (progress["status"], progress["imported"]) == ("done", 15)


def test_a_contact_update_that_only_echoes_our_write_changes_nothing(office, fake_ghl) -> None:
    from recovery_app.domain.leads import ghl as inbound
    from recovery_app.models import WebhookEvent

    lead_id = take_in(office)
    run_sync()
    contact = fake_ghl.contact_by_email("pat@acme.example")
    assert contact is not None

    def update_event(**fields) -> None:
        body = {
            "type": "ContactTagUpdate",
            "locationId": "loc-austin",
            "id": contact["id"],
            "firstName": "Pat",
            "lastName": "Lee",
            "email": "pat@acme.example",
            "tags": ["recovery:new"],
        } | fields
        import json

        with session_scope() as s:
            event = WebhookEvent(
                provider="ghl", event_id=json.dumps(fields) or "x", raw_body=json.dumps(body)
            )
            s.add(event)
            s.flush()
            inbound.handle(s, event, NOW + timedelta(minutes=1))

    update_event()
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None and lead.submissions == 1  # our own echo: not a resubmission
    update_event(firstName="Patricia", lastName="Lee-Smith")  # a person changed something
    with session_scope() as s:
        assert s.get(Lead, lead_id).submissions == 2  # type: ignore[union-attr]


def test_leads_gone_silent_in_bulk_get_their_silent_tag(office, fake_ghl) -> None:
    lead_id = take_in(office)
    with session_scope() as s:
        lead = s.get(Lead, lead_id)
        assert lead is not None
        lead.status = LeadStatus.CONTACTED
        lead.last_outbound_at = NOW - timedelta(days=10)
    with session_scope() as s:
        assert JOBS["detect_silent_leads"].run(s, NOW)["marked_silent"] == 1
    assert writes(lead_id)["status"].status == "queued"
    run_sync()
    contact = fake_ghl.contact_by_email("pat@acme.example")
    assert contact is not None and contact["tags"] == ["recovery:silent"]


def test_settings_changes_are_audited_masked_and_only_what_moved(office) -> None:
    def entries() -> list[AuditLog]:
        with session_scope() as s:
            return list(
                s.execute(
                    select(AuditLog)
                    .where(AuditLog.action == "tenant.integration_changed")
                    .order_by(AuditLog.id)
                ).scalars()
            )

    already = len(entries())  # the fixture's first save
    with session_scope() as s:
        save_ghl(s, viewer=manager(office), changes=GhlChanges(token=TOKEN, enabled=True), now=NOW)
    assert len(entries()) == already  # nothing changed: nothing audited
    with session_scope() as s:
        save_ghl(
            s,
            viewer=manager(office),
            changes=GhlChanges(token="pit-rotated", enabled=True),
            now=NOW,
        )
    entry = entries()[-1]
    assert entry.before == {"token": "…oken"}
    assert entry.after == {"token": "…ated", "integration": "ghl"}
    assert TOKEN not in str(entry.before) + str(entry.after)
