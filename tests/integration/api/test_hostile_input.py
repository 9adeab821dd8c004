"""Hostile and odd input to the REST API and the settings that make outside calls (SQLite and
PostgreSQL): each gets a clear 4xx, never a 500, and nothing is half-done. Every case here was
a 500 or a quiet acceptance before."""

import asyncio
import csv
import io

import pytest
from fastapi.testclient import TestClient

from recovery_app.api.app import create_api
from recovery_app.api.hardening import edge
from recovery_app.db import session_scope
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.domain.accounts.integrations import refuse_demo_calls
from recovery_app.domain.alerts.delivery import Destination
from recovery_app.domain.leads.csv_io import ImportReport, RowReport
from recovery_app.errors import Conflict
from recovery_app.integrations import http, slack
from recovery_app.models import Role
from tests.factories import make_lead, make_tenant

HUGE = 99999999999999999999  # past BIGINT


@pytest.fixture
def api(app_database):
    with session_scope() as s:
        tenant = make_tenant(s)
        _, key = issue_key(s, tenant=tenant, role=Role.MANAGER)
        lead = make_lead(s, tenant, first_name="Ana")
        lead_id = lead.id
    with TestClient(edge(create_api())) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, lead_id


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/recovery/leads/{HUGE}",
        f"/api/v1/recovery/campaigns/{HUGE}",
        "/api/v1/recovery/leads/0",
        "/api/v1/recovery/leads/-3",
        f"/api/v1/recovery/reviews?campaign_id={HUGE}",
    ],
)
def test_ids_past_what_the_database_holds_are_422(api, path) -> None:
    client, _ = api
    answer = client.get(path)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("lead_id", [HUGE, True, "3", 3.0, None, [3]])
def test_a_trigger_takes_only_a_real_lead_id(api, lead_id) -> None:
    """`true` and "3" were taken for 1 and 3; a 20-digit id was a 500."""
    client, _ = api
    answer = client.post("/api/v1/recovery/trigger", json={"lead_id": lead_id})
    assert answer.status_code == 422, (lead_id, answer.text)


def test_the_trigger_still_takes_an_int(api) -> None:
    client, lead_id = api
    assert client.post("/api/v1/recovery/trigger", json={"lead_id": lead_id}).status_code == 202


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/recovery/leads?q=%00",
        "/api/v1/recovery/leads?source=web%00form",
        "/api/v1/exports/leads.csv?q=ana%00",
    ],
)
def test_a_nul_in_the_address_is_400(api, path) -> None:
    """PostgreSQL refuses NUL in any text it is sent: these were 500s."""
    client, _ = api
    answer = client.get(path)
    assert answer.status_code == 400 and "NUL" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "query", ["to=0001-01-01", "from=9999-12-31", "from=2026-01-01&to=1999-01-01", "to=1-1-1"]
)
def test_analytics_ranges_outside_the_calendar_we_hold_are_422(api, query) -> None:
    client, _ = api
    answer = client.get(f"/api/v1/recovery/analytics?{query}")
    assert answer.status_code == 422, answer.text


def test_a_nul_in_a_form_field_is_a_clean_refusal(api) -> None:
    client, _ = api
    answer = client.post(
        "/api/v1/auth/login",
        data={"email": "a\x00@example.com", "password": "x"},
        headers={"Origin": "http://localhost:3000"},
        follow_redirects=False,
    )
    assert answer.status_code < 500


# ------------------------------------------------------------ addresses a user types
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8443/hook",
        "https://10.0.0.5/services/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://foo.localhost/x",
    ],
)
def test_a_slack_url_at_a_private_address_is_refused(url) -> None:
    with pytest.raises(ValueError, match="public internet address"):
        slack.check_webhook_url(url)


def test_a_name_that_resolves_to_a_private_address_is_not_posted_to(monkeypatch) -> None:
    """The name passes the check when saved; when posting, it resolves to the server's own
    network, and nothing is sent (nor is anything told about what listens there)."""
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")

    async def resolves_to_loopback(host, *args, **kwargs):
        return [(2, 1, 6, "", ("127.0.0.1", 0))]

    destination = Destination(1, None, "https://hooks.internal.example/services/x")
    assert destination.public_only

    async def post() -> slack.Answer:
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "getaddrinfo", resolves_to_loopback)
        async with http.Outbound("slack", timeout=1) as client:
            return await slack.post(client, destination.url, {"text": "x"}, public_only=True)

    answer = asyncio.run(post())
    assert answer.verdict == slack.Verdict.ATTENTION and answer.status is None
    assert "not a public internet address" in answer.detail


def test_demo_offices_make_no_outside_calls(app_database) -> None:
    with session_scope() as s:
        demo = make_tenant(s, is_demo=True)
        real = make_tenant(s)
        with pytest.raises(Conflict, match="demo office"):
            refuse_demo_calls(s, demo.id)
        refuse_demo_calls(s, real.id)  # a real office may


def test_the_import_report_is_inert_in_a_spreadsheet() -> None:
    report = ImportReport(
        rows=[RowReport(2, "rejected", reason='=HYPERLINK("https://evil.example","x"): unknown')]
    )
    [_, row] = list(csv.reader(io.StringIO(report.as_csv())))
    assert row[3].startswith("'=")
