from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from recovery_app.api.app import create_api
from recovery_app.db import session_scope
from recovery_app.domain.accounts.api_keys import issue_key
from recovery_app.models import Activity, Channel, Direction, LeadStatus, Message, Role
from tests.factories import NOW, make_lead, make_tenant


@pytest.fixture
def api(app_database):
    with session_scope() as s:
        tenant = make_tenant(s)
        _, key = issue_key(s, tenant=tenant, role=Role.MANAGER)
        ids = [make_lead(s, tenant, score=15 * i, first_name=f"Lead{i}").id for i in range(7)]
        silent = make_lead(
            s,
            tenant,
            first_name="Quiet",
            status=LeadStatus.SILENT,
            score=55,
            last_outbound_at=NOW - timedelta(hours=80),
            last_inbound_at=NOW - timedelta(hours=90),
        )
        s.add(
            Activity(
                tenant_id=tenant.id,
                lead_id=silent.id,
                kind="form_submitted",
                data={"source": "web_form"},
            )
        )
        s.add(
            Message(
                tenant_id=tenant.id,
                lead_id=silent.id,
                channel=Channel.SMS,
                direction=Direction.OUTBOUND,
                body="Hi Quiet",
                idempotency_key="k1",
                status="delivered",
            )
        )
    with TestClient(create_api()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, ids, silent.id


def test_cursor_pages_cover_every_lead_once(api) -> None:
    client, ids, silent_id = api
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/recovery/leads", params=params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([*ids, silent_id], reverse=True)


def test_filters(api) -> None:
    client, _, silent_id = api
    assert [
        i["id"]
        for i in client.get("/api/v1/recovery/leads", params={"silent_for_hours": 48}).json()[
            "items"
        ]
    ] == [silent_id]
    assert len(client.get("/api/v1/recovery/leads", params={"min_score": 50}).json()["items"]) == 4
    assert [
        i["first_name"]
        for i in client.get("/api/v1/recovery/leads", params={"q": "quiet"}).json()["items"]
    ] == ["Quiet"]
    hot = client.get("/api/v1/recovery/leads", params={"temperature": "hot"}).json()["items"]
    assert [i["score"] for i in hot] == [90, 75]


def test_detail_has_activities_and_messages(api) -> None:
    client, _, silent_id = api
    body = client.get(f"/api/v1/recovery/leads/{silent_id}").json()
    assert body["first_name"] == "Quiet" and body["status"] == "silent"
    assert [a["kind"] for a in body["activities"]] == ["form_submitted"]
    assert body["messages"][0]["body"] == "Hi Quiet"
    for key in (
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "status",
        "score",
        "temperature",
        "score_factors",
    ):
        assert key in body


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 500}, "limit"),
        ({"min_score": 101}, "min_score"),
        ({"status": "asleep"}, "status"),
        ({"cursor": "!!"}, "cursor"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_parameters_answer_422_with_the_field(api, params, field) -> None:
    client, _, _ = api
    response = client.get("/api/v1/recovery/leads", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]


def test_unknown_lead_is_404(api) -> None:
    client, _, _ = api
    response = client.get("/api/v1/recovery/leads/999999")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer rk_00000000_" + "a" * 43])
def test_missing_or_wrong_keys_are_401(api, header) -> None:
    client, _, _ = api
    headers = {"Authorization": header} if header else {}
    client.headers.pop("Authorization")
    response = client.get("/api/v1/recovery/leads", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_analytics_covers_a_range_and_refuses_bad_ones(api) -> None:
    client, _, _ = api
    with session_scope() as s:
        from sqlalchemy import select

        from recovery_app.models import DailyMetric, Lead

        tenant_id = s.execute(select(Lead.tenant_id).limit(1)).scalar_one()
        for day, silent, recovered, p50 in (("2026-10-03", 4, 1, 40), ("2026-10-04", 6, 3, 70)):
            s.add(
                DailyMetric(
                    tenant_id=tenant_id,
                    day=date.fromisoformat(day),
                    leads_new=10,
                    went_silent=silent,
                    recovered=recovered,
                    speed_p50_seconds=p50,
                )
            )
    answer = client.get("/api/v1/recovery/analytics?from=2026-10-01&to=2026-10-31&model=linear")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["start"], body["end"], body["model"]) == ("2026-10-01", "2026-10-31", "linear")
    assert body["funnel"]["leads_new"] == 20 and body["funnel"]["recovered"] == 4
    assert body["recovery_rate"] == pytest.approx(0.4)
    assert [d["speed_p50_seconds"] for d in body["response_times"]] == [40, 70]
    assert body["costs_microdollars"]["total"] == 0 and body["roi"] is None
    for query in (
        "from=2026-10-31&to=2026-10-01",
        "model=u_shaped",
        "from=yesterday",
        "from=2024-01-01&to=2026-01-01",
    ):
        assert client.get(f"/api/v1/recovery/analytics?{query}").status_code in (400, 422), query
