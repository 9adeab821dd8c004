import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.messaging.unsubscribe import make_token, read_token, unsubscribe_url
from recovery_app.models import AuditLog, Lead


@pytest.fixture
def client(office):
    with TestClient(create_api()) as client:
        yield client


def test_tokens_are_signed(office) -> None:
    token = make_token(tenant_id=office.tenant_id, lead_id=office.lead_id)
    assert read_token(token) == (office.tenant_id, office.lead_id)
    forged = make_token(tenant_id=office.tenant_id, lead_id=office.lead_id + 1)
    assert read_token(token.split(".")[0] + "." + forged.split(".")[1]) is None
    assert read_token("garbage") is None and read_token("a.b") is None
    assert unsubscribe_url(tenant_id=1, lead_id=2).startswith(
        "https://leads.example.com/unsubscribe/"
    )


def test_get_asks_and_post_unsubscribes_at_once(office, client) -> None:
    token = make_token(tenant_id=office.tenant_id, lead_id=office.lead_id)
    page = client.get(f"/unsubscribe/{token}")
    assert (
        page.status_code == 200 and "Unsubscribe?" in page.text and "a***@example.com" in page.text
    )
    with session_scope() as session:
        assert not session.get(Lead, office.lead_id).opted_out_email  # looking is not unsubscribing
    # A mail client's one-click POST (RFC 8058).
    done = client.post(
        f"/unsubscribe/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert client.post(f"/unsubscribe/{token}").status_code == 200  # twice is fine
    with session_scope() as session:
        lead = session.get(Lead, office.lead_id)
        assert lead.opted_out_email and lead.opted_out_email_reason == "Unsubscribe link"
        assert (
            session.execute(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == "lead.opted_out")
            ).scalar_one()
            == 1
        )
    assert "no longer gets email" in client.get(f"/unsubscribe/{token}").text


def test_bad_links_change_nothing(office, client) -> None:
    for token in ("nope", make_token(tenant_id=office.tenant_id, lead_id=999_999)):
        assert client.get(f"/unsubscribe/{token}").status_code == 404
        assert client.post(f"/unsubscribe/{token}").status_code == 404
    with session_scope() as session:
        assert not session.get(Lead, office.lead_id).opted_out_email
