"""CSV in and out. Imports go through the same validation, dedupe and scoring as webhooks (one
transaction per row, so a bad row never spoils the rest) and report every row: created, merged
or rejected and why. Exports write the viewer's current filtered view. Both are audited."""

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import session_scope
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.leads import repository
from recovery_app.domain.leads.intake import (
    IntakeResult,
    Person,
    intake,
    normalize,
    parse_payload,
    run_intake,
)
from recovery_app.domain.leads.schemas import LeadQuery
from recovery_app.errors import ValidationFailed
from recovery_app.models import Lead, Tenant, User

MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024
TRUE = {"1", "true", "yes", "y", "x", "opted in", "consented"}
ALIASES = {
    "first_name": {"first_name", "first name", "firstname", "given name"},
    "last_name": {"last_name", "last name", "lastname", "surname", "family name"},
    "email": {"email", "e-mail", "email address", "e-mail address"},
    "phone": {"phone", "phone number", "mobile", "mobile phone", "cell", "cell phone"},
    "source": {"source", "lead source"},
    "message": {"message", "notes", "comments", "inquiry"},
    "timezone": {"timezone", "time zone", "tz"},
    "consent_sms": {"consent_sms", "sms consent", "sms opt in", "text consent"},
    "consent_email": {"consent_email", "email consent", "email opt in"},
    "external_id": {"external_id", "external id", "id", "lead id"},
    "value": {"value", "budget", "price", "deal value"},
}
CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


@dataclass(frozen=True, slots=True)
class RowReport:
    row: int  # line number in the file (the header is line 1)
    outcome: str  # created | merged | rejected
    lead_id: int | None = None
    reason: str = ""


@dataclass
class ImportReport:
    rows: list[RowReport] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.outcome for r in self.rows)
        return {k: found.get(k, 0) for k in ("created", "merged", "rejected")}

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["row", "outcome", "lead_id", "reason"])
        for r in self.rows:
            # The reason quotes the uploaded file (a header, a value): inert, as the export.
            writer.writerow([r.row, r.outcome, r.lead_id or "", _inert(r.reason)])
        return out.getvalue()


def _payload(row: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    consent = {"sms": False, "email": False}
    for header, raw in row.items():
        if header is None or raw is None:
            continue
        value = raw.strip()
        name = CANONICAL.get(header.strip().lower(), header.strip())
        if not value:
            continue
        if name in ("consent_sms", "consent_email"):
            consent[name.removeprefix("consent_")] = value.lower() in TRUE
        elif name == "value":
            cleaned = value.replace("$", "").replace(",", "").strip()
            try:
                payload["value"] = float(cleaned)
            except ValueError:
                payload["value"] = value  # validation reports it
        else:
            payload[name] = value
    payload["consent"] = consent
    payload.setdefault("source", "import")
    return payload


def import_csv(
    text: str,
    *,
    viewer: Viewer,
    now: datetime,
    respond: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import rows into the viewer's tenant (managers only). Rows are separate transactions;
    `progress` hears the number of rows done so far (the page shows it)."""
    require_manager(viewer, "import leads")
    if len(text.encode("utf-8", "ignore")) > MAX_BYTES:
        raise ValidationFailed(
            "File too large.", fields={"file": f"at most {MAX_BYTES // (1024 * 1024)} MB"}
        )
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = {CANONICAL.get((h or "").strip().lower(), h) for h in reader.fieldnames or []}
    if not headers & {"email", "phone"}:
        raise ValidationFailed(
            "The file needs an email or a phone column.",
            fields={"file": "header row with email or phone"},
        )
    report = ImportReport()
    with session_scope() as session:
        tenant = session.get(Tenant, viewer.tenant_id)
        assert tenant is not None
        region = tenant.default_region
    for line, row in enumerate(reader, start=2):
        if progress is not None:
            progress(len(report.rows))
        if line - 1 > MAX_ROWS:
            report.rows.append(
                RowReport(line, "rejected", reason=f"over the {MAX_ROWS:,}-row limit")
            )
            break
        try:
            person = normalize(parse_payload(_payload(row)), region=region)
        except ValidationFailed as exc:
            reason = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
            report.rows.append(RowReport(line, "rejected", reason=reason))
            continue

        def work(person: Person = person) -> IntakeResult:
            with session_scope() as session:
                tenant = session.get(Tenant, viewer.tenant_id)
                assert tenant is not None
                return intake(
                    session,
                    tenant=tenant,
                    person=person,
                    received_at=now,
                    via="csv",
                    respond=respond,
                )

        result = run_intake(work)
        report.rows.append(
            RowReport(line, "created" if result.created else "merged", result.lead_id)
        )
    with session_scope() as session:
        audit.record(
            session,
            action="leads.imported",
            entity_type="tenant",
            entity_id=viewer.tenant_id,
            tenant_id=viewer.tenant_id,
            actor=viewer,
            after=report.counts,
        )
    return report


EXPORT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "source",
    "status",
    "temperature",
    "score",
    "agent",
    "consent_sms",
    "consent_email",
    "opted_out_sms",
    "opted_out_email",
    "created_at",
    "last_activity_at",
    "est_value",
)


def _export_rows(
    session: Session, viewer: Viewer, query: LeadQuery, now: datetime
) -> Iterator[list[Any]]:
    stmt = (
        select(Lead, col(User.full_name))
        .outerjoin(User, col(User.id) == col(Lead.assigned_user_id))
        .where(*repository.lead_filters(viewer, query, now))
        .order_by(col(Lead.id))
        .execution_options(yield_per=1000)
    )
    for lead, agent in session.execute(stmt):
        yield [
            lead.id,
            lead.first_name,
            lead.last_name,
            lead.email or "",
            lead.phone or "",
            lead.source,
            lead.status,
            lead.temperature,
            lead.score,
            agent or "",
            lead.consent_sms,
            lead.consent_email,
            lead.opted_out_sms,
            lead.opted_out_email,
            lead.created_at.isoformat(),
            lead.last_activity_at.isoformat(),
            f"{lead.est_value_cents / 100:.2f}" if lead.est_value_cents else "",
        ]


PLAIN_NUMBER = re.compile(r"[+-]?\d[\d .()-]*")


def _inert(value: Any) -> Any:
    """A text cell starting with = + - @ would run as a formula in a spreadsheet: prefix it
    with a quote. Phone numbers (+15125550123) and other plain numbers stay as they are."""
    if (
        isinstance(value, str)
        and value[:1] in ("=", "+", "-", "@", "\t", "\r")
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return f"'{value}"
    return value


def export_csv(
    session: Session, *, viewer: Viewer, query: LeadQuery, now: datetime
) -> tuple[str, int]:
    """The viewer's filtered leads as CSV (managers only; audited with the filters used)."""
    require_manager(viewer, "export leads")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in _export_rows(session, viewer, query, now):
        writer.writerow([_inert(v) for v in row])
        count += 1
    filters = {
        name: str(getattr(query, name))
        for name in query.__dataclass_fields__
        if getattr(query, name) not in (None, "", False)
        and name not in ("page", "page_size", "sort", "descending")
    }
    audit.record(
        session,
        action="leads.exported",
        entity_type="tenant",
        entity_id=viewer.tenant_id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"rows": count, "filters": filters},
    )
    return out.getvalue(), count
