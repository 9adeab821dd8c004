"""Settings -> Office on SQLite and PostgreSQL: the profile's checks, what a save changes and
audits, prices reaching message costs, and the integrations' status with refused signatures."""

from datetime import time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts import integrations, office
from recovery_app.errors import Forbidden, ValidationFailed
from recovery_app.models import AuditLog, Tenant, WebhookEvent, WebhookFailure
from recovery_app.settings import get_settings, reload_settings
from tests.factories import NOW, make_tenant, make_user, manager_of, viewer_for


def form(tenant: Tenant, **changes: str) -> dict[str, str]:
    return office.form_of(office.profile_of(tenant)) | changes


def test_a_save_changes_the_office_and_audits_what_changed(session) -> None:
    tenant = make_tenant(session, timezone="America/New_York")
    manager = manager_of(tenant)
    saved = office.update_profile(
        session,
        viewer=manager,
        data=form(
            tenant,
            timezone="America/Chicago",
            quiet_hours_start="20:30",
            mon_open="09:00",
            mon_close="17:30",
            sender_phone="(512) 555-0100",
            sender_email="Hello@Harborview.Example",
            postal_address="  100 Main St\n  Austin, TX 78701 ",
            silence_threshold_hours="72",
            silence_hot="6",
            sms_segment_usd="0.0079",
        ),
    )
    session.flush()
    session.refresh(tenant)  # what the database holds now
    assert tenant.timezone == "America/Chicago"
    assert tenant.quiet_hours_start == time(20, 30)
    assert tenant.business_hours == {"mon": ["09:00", "17:30"]}
    assert (tenant.sender_phone, tenant.sender_email) == (
        "+15125550100",
        "hello@harborview.example",
    )
    assert tenant.postal_address == "100 Main St\nAustin, TX 78701"
    assert (tenant.silence_threshold_hours, tenant.silence_overrides) == (72, {"hot": 6})
    assert office.prices_of(tenant)["sms_segment_usd"] == 0.0079
    assert saved.sender_phone == "+15125550100"
    entry = session.exec(select(AuditLog).where(AuditLog.action == "tenant.profile_changed")).one()
    assert entry.before["timezone"] == "America/New_York"
    assert entry.after["timezone"] == "America/Chicago"
    assert "name" not in entry.after  # only what changed
    # Saving the same values again changes nothing and audits nothing.
    office.update_profile(session, viewer=manager, data=form(tenant))
    assert len(session.exec(select(AuditLog)).all()) == 1


def test_every_problem_is_reported_at_once(session) -> None:
    tenant = make_tenant(session)
    with pytest.raises(ValidationFailed) as caught:
        office.update_profile(
            session,
            viewer=manager_of(tenant),
            data=form(
                tenant,
                name=" ",
                timezone="Mars/Olympus",
                quiet_hours_end="8am",
                tue_open="10:00",
                wed_open="18:00",
                wed_close="09:00",
                sender_phone="12",
                sender_email="not-an-address",
                attribution_window_days="0",
                silence_warm="x",
                agent_hourly_usd="-1",
            ),
        )
    assert set(caught.value.fields) == {
        "name",
        "timezone",
        "quiet_hours_end",
        "tue_open",
        "wed_open",
        "sender_phone",
        "sender_email",
        "attribution_window_days",
        "silence_warm",
        "agent_hourly_usd",
    }
    session.refresh(tenant)
    assert tenant.name != " "  # nothing was saved


def test_only_managers_change_the_profile(session) -> None:
    tenant = make_tenant(session)
    agent = make_user(session, tenant)
    with pytest.raises(Forbidden):
        office.update_profile(session, viewer=viewer_for(agent, tenant), data={"name": "Mine"})
    with pytest.raises(Forbidden):
        integrations.integration_status(session, viewer=viewer_for(agent, tenant), now=NOW)


def test_integrations_show_last_calls_and_refused_signatures(session) -> None:
    tenant = make_tenant(session)
    other = make_tenant(session)
    session.add_all(
        [
            WebhookEvent(
                provider="twilio_sms", event_id="SM1", tenant_id=tenant.id, received_at=NOW
            ),
            WebhookEvent(
                provider="twilio_status",
                event_id="SM1:delivered",
                tenant_id=tenant.id,
                received_at=NOW - timedelta(hours=2),
            ),
            WebhookEvent(provider="leads", event_id="x", tenant_id=other.id, received_at=NOW),
        ]
    )
    for _ in range(3):
        integrations.record_signature_failure(session, provider="twilio", now=NOW)
    integrations.record_signature_failure(session, provider="ghl", now=NOW - timedelta(days=9))
    found = {
        i.key: i
        for i in integrations.integration_status(session, viewer=manager_of(tenant), now=NOW)
    }
    assert found["twilio"].last_received_at == NOW
    assert found["twilio"].signature_failures == 3
    assert found["ghl"].signature_failures == 0  # older than 7 days
    assert found["leads"].last_received_at is None  # another office's call
    base = get_settings().app_base_url
    assert ("Status callback", f"{base}/api/v1/webhooks/twilio/status") in found["twilio"].urls
    assert integrations.provider_of_path("/api/v1/webhooks/sendgrid/events") == "sendgrid"
    assert integrations.provider_of_path("/api/v1/recovery/leads") is None


def test_a_refused_webhook_is_counted(app_database, monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-token")
    reload_settings()
    try:
        client = TestClient(create_api())
        answer = client.post(
            "/api/v1/webhooks/twilio/sms",
            data={"MessageSid": "SM1", "From": "+15125550100", "To": "+15125550199"},
            headers={"X-Twilio-Signature": "forged"},
        )
        assert answer.status_code == 403
        client.post("/api/v1/webhooks/leads", json={"first_name": "No key"})
    finally:
        monkeypatch.delenv("TWILIO_AUTH_TOKEN")
        reload_settings()
    with session_scope() as s:
        counts = {f.provider: f.count for f in s.exec(select(WebhookFailure))}
    assert counts == {"twilio": 1, "leads": 1}
