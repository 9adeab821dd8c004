"""The full import of a location's existing GoHighLevel contacts (Settings -> Office ->
"Import contacts"), run by the `ghl_import` job.

Pages of `GET /contacts/` (oldest first, `startAfter`/`startAfterId`) are fed, one contact per
transaction, through the same intake path as the contact webhook (source `ghl`, no first
response): a contact matching an existing lead by phone or email merges into it. After each
page the cursor and the counts (imported / merged / rejected of GoHighLevel's total) are
committed, so a restart goes on from there and Settings shows the progress while it runs. A
refused token pauses the import (it resumes from its cursor when started again); an outage
or a 429 only ends this run's share.
"""

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from recovery_app.db import session_scope
from recovery_app.domain.accounts import integrations
from recovery_app.domain.crm import repository
from recovery_app.domain.crm.calls import outbound
from recovery_app.domain.crm.config import GHL, office_ghl
from recovery_app.domain.leads.ghl import contact_intake
from recovery_app.domain.leads.intake import run_intake
from recovery_app.errors import ValidationFailed
from recovery_app.integrations import ghl, http
from recovery_app.models import Tenant

RUN_BUDGET_SECONDS = 40.0


def _progress(session: Session, tenant_id: int) -> tuple[Any, dict[str, Any]]:
    row = integrations.integration_row(session, tenant_id=tenant_id, integration=GHL)
    assert row is not None
    return row, dict((row.state or {}).get("import") or {})


def _save(session: Session, tenant_id: int, progress: dict[str, Any]) -> None:
    row, _ = _progress(session, tenant_id)
    row.state = dict(row.state or {}) | {"import": progress}


def _page(tenant_id: int, cursor: dict[str, Any] | None, page_size: int) -> ghl.Answer | None:
    with session_scope() as session:
        office = office_ghl(session, tenant_id=tenant_id)
        if office.token is None or office.demo:
            return None
        target = (office.base_url, office.token, office.location_id)

    async def fetch() -> ghl.Answer:
        async with outbound(target[2]) as client:
            conn = ghl.Connection(client, *target)
            return await ghl.contacts_page(
                conn,
                start_after=(cursor or {}).get("startAfter"),
                start_after_id=(cursor or {}).get("startAfterId"),
                limit=page_size,
            )

    return http.run_blocking(fetch)


def _one(tenant_id: int, contact: dict[str, Any], now: datetime) -> str:
    def work():
        with session_scope() as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            return contact_intake(session, tenant=tenant, data=contact, now=now, respond=False)

    try:
        return "imported" if run_intake(work).created else "merged"
    except ValidationFailed:
        return "rejected"


def import_office(
    tenant_id: int, *, deadline: float, page_size: int = ghl.PAGE_SIZE
) -> dict[str, int]:
    """Import pages for one office until it is done, it fails, or the run's time is up."""
    counts = {"pages": 0, "contacts": 0}
    while time.monotonic() < deadline:
        with session_scope() as session:
            _, progress = _progress(session, tenant_id)
        if progress.get("status") != "running":
            break
        answer = _page(tenant_id, progress.get("cursor"), page_size)
        now = datetime.now(UTC)
        if answer is None or not answer.ok:
            with session_scope() as session:
                _, progress = _progress(session, tenant_id)
                detail = answer.detail if answer else "No token (or a demo office)."
                progress["error"] = detail
                if answer is None or answer.verdict in (
                    ghl.Verdict.ATTENTION,
                    ghl.Verdict.REJECTED,
                    ghl.Verdict.NOT_FOUND,
                ):
                    progress["status"] = "paused"
                row, _ = _progress(session, tenant_id)
                integrations.record_error(
                    row,
                    f"Import: {detail}",
                    now=now,
                    refused=row.secret
                    if answer and answer.verdict == ghl.Verdict.ATTENTION
                    else None,
                )
                _save(session, tenant_id, progress)
            break
        contacts = [c for c in answer.data.get("contacts") or [] if isinstance(c, dict)]
        outcome = {"imported": 0, "merged": 0, "rejected": 0}
        for contact in contacts:
            outcome[_one(tenant_id, contact, now)] += 1
        meta = answer.data.get("meta") or {}
        more = bool(contacts) and bool(meta.get("startAfterId")) and bool(meta.get("nextPageUrl"))
        with session_scope() as session:
            row, progress = _progress(session, tenant_id)
            for name, n in outcome.items():
                progress[name] = int(progress.get(name) or 0) + n
            progress["seen"] = int(progress.get("seen") or 0) + len(contacts)
            progress["total"] = meta.get("total", progress.get("total"))
            progress["cursor"] = {
                "startAfter": meta.get("startAfter"),
                "startAfterId": meta.get("startAfterId"),
            }
            progress["error"] = None
            if not more:
                progress["status"], progress["finished_at"] = "done", now.isoformat()
            integrations.record_ok(row, now=now)
            _save(session, tenant_id, progress)
        counts["pages"] += 1
        counts["contacts"] += len(contacts)
        if not more:
            break
    return counts


def run_job(
    session: Session,
    now: datetime,
    *,
    budget: float = RUN_BUDGET_SECONDS,
    page_size: int = ghl.PAGE_SIZE,
) -> dict[str, int]:
    """The `ghl_import` job: every office whose import is running gets pages until the run's
    time is up; each contact and each page's progress is its own transaction."""
    offices = repository.importing_offices(session)
    session.commit()  # the imports write in transactions of their own
    deadline = time.monotonic() + budget
    totals = {"offices": len(offices), "pages": 0, "contacts": 0}
    for tenant_id in offices:
        done = import_office(tenant_id, deadline=deadline, page_size=page_size)
        totals["pages"] += done["pages"]
        totals["contacts"] += done["contacts"]
    return totals
