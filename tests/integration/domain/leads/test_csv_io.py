"""CSV import (validate, dedupe, score, route, report every row) and export (filtered, inert)."""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.cli import main
from recovery_app.db import session_scope
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.leads.csv_io import EXPORT_COLUMNS, export_csv, import_csv
from recovery_app.domain.leads.schemas import LeadQuery
from recovery_app.errors import Forbidden, ValidationFailed
from recovery_app.models import (
    AuditLog,
    Channel,
    Lead,
    LeadStatus,
    Message,
    MessageCategory,
    Role,
    Temperature,
    Tenant,
)
from tests.factories import NOW, make_lead, make_tenant, make_user, viewer_for


@dataclass
class Office:
    tenant_id: int
    other_tenant_id: int
    manager: Viewer
    agent: Viewer
    agent_id: int
    existing_lead_id: int


@pytest.fixture
def office(app_database) -> Office:
    with session_scope() as s:
        tenant = make_tenant(s, name="Harbor Office", location_id="harbor")
        other = make_tenant(s, location_id="elsewhere")
        manager = make_user(s, tenant, role=Role.MANAGER, full_name="Mia Manager")
        agent = make_user(s, tenant, role=Role.AGENT, full_name="Marcus Reyes")
        existing = make_lead(
            s,
            tenant,
            first_name="Gus",
            last_name="",
            email="gus@example.com",
            phone="+15125550177",
            assigned_user_id=agent.id,
        )
        # The other tenant already knows Ana: her import must still create a lead here.
        make_lead(s, other, email="ana@example.com", phone="+15125550101")
        return Office(
            tenant.id,
            other.id,
            viewer_for(manager, tenant),
            viewer_for(agent, tenant),
            agent.id,
            existing.id,
        )


def count(model, *where) -> int:
    with session_scope() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def leads_of(tenant_id: int) -> list[Lead]:
    with session_scope() as s:
        rows = list(
            s.execute(select(Lead).where(Lead.tenant_id == tenant_id).order_by(Lead.id)).scalars()
        )
        s.expunge_all()
        return rows


IMPORT = (
    "\ufeffFirst Name,Last Name,E-mail,Mobile,Lead Source,Notes,SMS Consent,Budget,Favourite Color\n"
    'ana,smith,Ana@Example.com,(512) 555-0101,Zillow Premier,Wants a 3-bed,yes,"$450,000",blue\n'
    "Bob,NoContact,,,,,,,\n"
    "Cy,BadPhone,,12,,,,,\n"
    "Di,BadEmail,not-an-email,,,,,,\n"
    "Ed,,ANA@example.com,,,Any news?,,,\n"
    "Flo,,,512-555-0101,,,,,\n"
    "Gus,Again,,512.555.0177,,,,,\n"
    "Hal,Jones,hal@example.com,,open house,,no,,\n"
)


def test_every_row_is_reported_created_merged_or_rejected(office) -> None:
    report = import_csv(IMPORT, viewer=office.manager, now=NOW)

    outcomes = [(r.row, r.outcome) for r in report.rows]
    assert outcomes == [
        (2, "created"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "rejected"),
        (6, "merged"),
        (7, "merged"),
        (8, "merged"),
        (9, "created"),
    ]
    assert report.counts == {"created": 2, "merged": 3, "rejected": 3}
    reasons = {r.row: r.reason for r in report.rows if r.outcome == "rejected"}
    assert reasons[3] == (
        "phone: send a phone or an email (or both); email: send a phone or an email (or both)"
    )
    assert reasons[4] == "phone: not a valid phone number (read with default region US)"
    assert reasons[5].startswith("email: ") and len(reasons[5]) > len("email: ")
    assert all(r.lead_id is None for r in report.rows if r.outcome == "rejected")

    ana_id = report.rows[0].lead_id
    # Same email (any case) and same phone (any format) are Ana again; Gus was already here.
    assert [r.lead_id for r in report.rows[4:7]] == [ana_id, ana_id, office.existing_lead_id]
    leads = leads_of(office.tenant_id)
    assert [lead.id for lead in leads] == [office.existing_lead_id, ana_id, report.rows[-1].lead_id]
    ana = leads[1]
    assert (ana.first_name, ana.last_name) == ("Ana", "Smith")
    assert (ana.email, ana.phone) == ("ana@example.com", "+15125550101")
    assert ana.source == "zillow_premier" and ana.message == "Any news?"
    assert ana.consent_sms and not ana.consent_email
    assert ana.est_value_cents == 45_000_000 and ana.submissions == 3
    assert ana.attributes == {"Favourite Color": "blue"}
    assert ana.assigned_user_id == office.agent_id and ana.score > 0
    gus = leads[0]
    assert gus.submissions == 2 and gus.last_name == "Again"
    hal = leads[2]
    assert hal.source == "open_house" and not hal.consent_sms
    assert count(Lead, Lead.tenant_id == office.other_tenant_id) == 1  # untouched

    with session_scope() as s:
        [entry] = s.execute(select(AuditLog).where(AuditLog.action == "leads.imported")).scalars()
        assert entry.tenant_id == office.tenant_id and entry.actor_user_id == office.manager.user_id
        assert entry.after == report.counts


def test_the_report_as_csv(office) -> None:
    report = import_csv(IMPORT, viewer=office.manager, now=NOW)
    rows = list(csv.reader(io.StringIO(report.as_csv())))
    assert rows[0] == ["row", "outcome", "lead_id", "reason"]
    assert [r[:2] for r in rows[1:]] == [[str(r.row), r.outcome] for r in report.rows]
    assert rows[2][2] == "" and rows[2][3].startswith("phone: ")
    assert rows[1][2] == str(report.rows[0].lead_id)


def test_import_without_respond_queues_nothing(office) -> None:
    import_csv(IMPORT, viewer=office.manager, now=NOW)
    assert count(Message) == 0


def test_import_with_respond_answers_new_leads_only(office) -> None:
    report = import_csv(IMPORT, viewer=office.manager, now=NOW, respond=True)
    created = [r.lead_id for r in report.rows if r.outcome == "created"]
    with session_scope() as s:
        messages = s.execute(select(Message).order_by(Message.lead_id, Message.channel)).all()
        sent = [(m.lead_id, m.channel, m.category, m.idempotency_key) for (m,) in messages]
    ana, hal = created
    assert sent == [
        (ana, Channel.EMAIL, MessageCategory.AUTOMATED, f"first-response:{ana}:email"),
        (ana, Channel.SMS, MessageCategory.AUTOMATED, f"first-response:{ana}:sms"),
        (hal, Channel.EMAIL, MessageCategory.AUTOMATED, f"first-response:{hal}:email"),
    ]
    # Importing the same file again merges everyone and answers nobody twice.
    again = import_csv(IMPORT, viewer=office.manager, now=NOW, respond=True)
    assert again.counts == {"created": 0, "merged": 5, "rejected": 3}
    assert count(Message) == 3


def test_only_managers_import(office) -> None:
    with pytest.raises(Forbidden):
        import_csv(IMPORT, viewer=office.agent, now=NOW)
    assert count(Lead, Lead.tenant_id == office.tenant_id) == 1
    assert count(AuditLog) == 0


def test_a_file_without_email_or_phone_column_is_refused(office) -> None:
    with pytest.raises(ValidationFailed) as error:
        import_csv("name,notes\nAna,hello\n", viewer=office.manager, now=NOW)
    assert error.value.fields == {"file": "header row with email or phone"}
    assert count(Lead, Lead.tenant_id == office.tenant_id) == 1


def test_plain_headers_and_ragged_rows(office) -> None:
    text = "email,phone,first_name,consent_email\nx@example.com,,Xena,TRUE,surplus\ny@example.com\n"
    report = import_csv(text, viewer=office.manager, now=NOW)
    assert report.counts == {"created": 2, "merged": 0, "rejected": 0}
    with session_scope() as s:
        xena = s.get(Lead, report.rows[0].lead_id)
        assert xena.first_name == "Xena" and xena.consent_email and xena.source == "import"


# ------------------------------------------------------------------------------ export
@pytest.fixture
def leads(office):
    with session_scope() as s:
        tenant = s.get(Tenant, office.tenant_id)
        hot = make_lead(
            s,
            tenant,
            first_name='=HYPERLINK("http://evil.example","x")',
            last_name="+SUM(A1)",
            email="@evil.example",
            phone="+15125550123",
            source="-cmd",
            score=85,
            status=LeadStatus.ENGAGED,
            est_value_cents=45_000_012,
            assigned_user_id=office.agent_id,
            created_at=NOW - timedelta(days=2),
        )
        silent = make_lead(
            s,
            tenant,
            first_name="\tTab",
            last_name="\rReturn",
            phone="+13035550141",
            score=30,
            status=LeadStatus.SILENT,
        )
        warm = make_lead(
            s,
            tenant,
            first_name="-42",
            last_name="Plain",
            phone="+13035550142",
            score=50,
            status=LeadStatus.SILENT,
        )
        other = s.get(Tenant, office.other_tenant_id)
        make_lead(
            s, other, first_name="Foreign", phone="+13035550143", score=90, status=LeadStatus.SILENT
        )
        return {"hot": hot.id, "silent": silent.id, "warm": warm.id}


def exported(viewer: Viewer, query: LeadQuery | None = None) -> tuple[list[dict], int]:
    query = query or LeadQuery()
    with session_scope() as s:
        text, n = export_csv(s, viewer=viewer, query=query, now=NOW)
    reader = csv.reader(io.StringIO(text))
    assert tuple(next(reader)) == EXPORT_COLUMNS
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in reader], n


def test_export_writes_the_tenants_leads_only(office, leads) -> None:
    rows, n = exported(office.manager)
    assert n == len(rows) == 4
    assert [int(r["id"]) for r in rows] == sorted(
        [office.existing_lead_id, leads["hot"], leads["silent"], leads["warm"]]
    )
    assert "Foreign" not in {r["first_name"] for r in rows}
    hot = next(r for r in rows if int(r["id"]) == leads["hot"])
    assert hot["status"] == "engaged" and hot["temperature"] == "hot" and hot["score"] == "85"
    assert hot["agent"] == "Marcus Reyes" and hot["est_value"] == "450000.12"
    assert hot["phone"] == "+15125550123"  # a phone number is not a formula
    assert hot["created_at"] == (NOW - timedelta(days=2)).isoformat()


def test_export_neutralises_formulas(office, leads) -> None:
    rows, _ = exported(office.manager)
    by_id = {int(r["id"]): r for r in rows}
    hot = by_id[leads["hot"]]
    assert hot["first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert hot["last_name"] == "'+SUM(A1)"
    assert hot["email"] == "'@evil.example" and hot["source"] == "'-cmd"
    silent = by_id[leads["silent"]]
    assert (silent["first_name"], silent["last_name"]) == ("'\tTab", "'\rReturn")
    assert by_id[leads["warm"]]["first_name"] == "-42"  # a plain number stays a number
    for row in rows:
        for value in row.values():
            assert value[:1] not in ("=", "+", "@", "\t", "\r") or value == row["phone"]


@pytest.mark.parametrize(
    ("query", "expected", "filters"),
    [
        (LeadQuery(status=LeadStatus.SILENT), ["silent", "warm"], {"status": "silent"}),
        (LeadQuery(temperature=Temperature.HOT), ["hot"], {"temperature": "hot"}),
        (
            LeadQuery(status=LeadStatus.SILENT, temperature=Temperature.WARM),
            ["warm"],
            {"status": "silent", "temperature": "warm"},
        ),
        (LeadQuery(min_score=40, source="-cmd"), ["hot"], {"min_score": "40", "source": "-cmd"}),
        (LeadQuery(text="plain"), ["warm"], {"text": "plain"}),
    ],
)
def test_export_respects_the_filters_and_audits_them(
    office, leads, query, expected, filters
) -> None:
    rows, n = exported(office.manager, query)
    assert sorted(int(r["id"]) for r in rows) == sorted(leads[name] for name in expected)
    with session_scope() as s:
        [entry] = s.execute(select(AuditLog).where(AuditLog.action == "leads.exported")).scalars()
        assert entry.tenant_id == office.tenant_id and entry.actor_user_id == office.manager.user_id
        assert entry.after == {"rows": n, "filters": filters}


def test_agents_cannot_export(office, leads) -> None:
    with session_scope() as s, pytest.raises(Forbidden):
        export_csv(s, viewer=office.agent, query=LeadQuery(), now=NOW)
    assert count(AuditLog, AuditLog.action == "leads.exported") == 0


# ------------------------------------------------------------------------------ command line
def test_import_and_export_from_the_command_line(office, tmp_path, capsys) -> None:
    source = tmp_path / "leads.csv"
    source.write_text(IMPORT, encoding="utf-8")
    report = tmp_path / "report.csv"

    assert main(["import-leads", str(source), "--tenant", "harbor", "--report", str(report)]) == 0

    out = capsys.readouterr().out
    assert "  line 3: rejected: phone: send a phone or an email" in out
    assert "  line 4: rejected: phone: not a valid phone number" in out
    assert "2 created, 3 merged, 3 rejected." in out
    assert f"Per-row report written to {report}." in out
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert [r["outcome"] for r in rows] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "merged",
        "merged",
        "merged",
        "created",
    ]
    assert count(Message) == 0  # no --respond
    assert count(Lead, Lead.tenant_id == office.tenant_id) == 3

    target = tmp_path / "out.csv"
    assert main(["export-leads", str(target), "--tenant", "harbor", "--status", "new"]) == 0
    assert capsys.readouterr().out.strip() == f"Exported 2 leads to {target}."
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["email"] for r in rows] == ["ana@example.com", "hal@example.com"]
    assert {r["status"] for r in rows} == {"new"}

    # Two tenants and none named: the command refuses instead of guessing.
    assert main(["export-leads", str(target)]) == 2
    assert "--tenant" in capsys.readouterr().err
