"""One request id from the webhook to the send: the caller's X-Request-ID is answered back,
stored on the outbox rows the lead's intake queued, and carried by the dispatcher's log line
for that lead's SMS. And what the logs must never hold: secrets and message bodies."""

import logging

from sqlalchemy import select

from recovery_app.db import session_scope
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.models import AuditLog, Channel, Role, Tenant
from tests.integration.observability.conftest import (
    MARIA,
    SECRET,
    chicago_noon_tomorrow,
    messages_of,
    parse_lines,
)


def test_the_callers_request_id_reaches_the_dispatchers_line_for_the_sms(office, log_lines) -> None:
    response = office.post_lead(MARIA, headers={"X-Request-ID": "form-post-7f3a"})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "form-post-7f3a"
    lead_id = response.json()["lead_id"]
    rows = messages_of(lead_id)
    assert {m.request_id for m in rows} == {"form-post-7f3a"}
    with session_scope() as session:
        audited = session.execute(select(AuditLog.request_id)).scalars().all()
    assert "form-post-7f3a" in audited  # consent evidence, recorded by the same request

    office.dispatcher(chicago_noon_tomorrow()).drain()
    [sms] = [m for m in rows if m.channel == Channel.SMS]
    lines = parse_lines(log_lines)
    sent = [
        line
        for line in lines
        if line["logger"] == "recovery_app.messaging.dispatcher"
        and line.get("message_id") == sms.id
    ]
    assert sent, lines
    assert sent[0]["request_id"] == "form-post-7f3a"
    assert sent[0]["status"] == "sent" and sent[0]["provider"] == "twilio"
    assert {"time", "level", "logger", "message"} <= set(sent[0])
    # The request's own line (one per API request) under the same id.
    [edge] = [line for line in lines if line["logger"] == "recovery_app.observability.http"]
    assert (edge["request_id"], edge["status"], edge["path"]) == (
        "form-post-7f3a",
        201,
        "/api/v1/webhooks/leads",
    )


def test_without_an_id_one_is_made_and_a_forged_one_is_replaced(office) -> None:
    made = office.client.get("/api/v1/health").headers["x-request-id"]
    assert len(made) == 32 and made.isalnum()
    forged = office.client.get(
        "/api/v1/health", headers={"X-Request-ID": 'x" level="ERROR'}
    ).headers["x-request-id"]
    assert forged != 'x" level="ERROR' and len(forged) == 32
    too_long = office.client.get("/api/v1/health", headers={"X-Request-ID": "a" * 65})
    assert len(too_long.headers["x-request-id"]) == 32


def test_no_secret_and_no_message_body_reaches_the_logs(office, log_lines) -> None:
    # An operator turning every library up to INFO must not see them either.
    logging.getLogger().setLevel(logging.INFO)
    with session_scope() as session:
        tenant = session.get(Tenant, office.tenant_id)
        _row, api_key = issue_key(session, tenant=tenant, role=Role.MANAGER, name="forms")
    by_key = office.client.post(
        "/api/v1/webhooks/leads",
        json=MARIA | {"phone": "+15125550142", "email": "kim@example.com", "first_name": "Kim"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert by_key.status_code == 201
    assert office.post_lead(MARIA).status_code == 201
    office.dispatcher(chicago_noon_tomorrow()).drain()
    bodies = [m["Body"] for m in office.providers.twilio.messages]
    emails = [c["value"] for mail in office.providers.sendgrid.mails for c in mail["content"]]
    assert len(bodies) == 2 and len(emails) >= 2  # both leads were answered on both channels
    written = log_lines.getvalue()
    assert "recovery_app.messaging.dispatcher" in written  # the sends were logged...
    secrets = [api_key, SECRET, "test-auth-token", "SG.test-key", "test-secret-key"]
    for secret in secrets:
        assert secret not in written
    for text in [*bodies, *emails, MARIA["message"]]:
        assert text not in written
    assert "555-0199" not in written and "5125550199" not in written  # nor the phone number
