"""The `ghl_sync` job and Settings' "Test connection".

The job claims due write-backs (committed as `sending`, with a lease), makes them outside any
transaction (calls.py), then records each answer:

- done: the row says what GoHighLevel answered (the note's or opportunity's id kept); the
  contact id learned goes on the lead; a change that landed meanwhile queues the row again;
- refused token (401/403): the office needs attention with GoHighLevel's words, its writes
  wait and nothing more is called until a manager saves the settings or a test succeeds;
- 429: back to the queue after GoHighLevel's Retry-After (the office pauses until then);
  outages back off 30 s doubling to 1 h, for 24 h or 8 tries, then the row is `failed`;
- this one write refused (400/422, a contact deleted at GoHighLevel): `failed`, the rest go on.

Intake and sending never wait for any of it: they only queued rows.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.crm import repository
from recovery_app.domain.crm.calls import (
    LeadSnapshot,
    Office,
    OfficeRun,
    Outcome,
    Write,
    outbound,
    write_all,
)
from recovery_app.domain.crm.config import GHL, OfficeGhl, office_ghl
from recovery_app.errors import Conflict
from recovery_app.integrations import ghl, http
from recovery_app.models import GhlWrite, Lead, pk

CLAIM_LEASE = timedelta(minutes=5)
ATTENTION_RECHECK = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)
MAX_ATTEMPTS = 8
BACKOFF_MIN, BACKOFF_MAX = 30.0, 3600.0
DEFAULT_PAUSE = 60.0
# One run stops making calls after this long (the job runs every minute; the rest waits).
RUN_BUDGET_SECONDS = 45.0


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    base = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, attempt - 1))
    return timedelta(seconds=max(base * (0.75 + 0.5 * random.random()), retry_after or 0.0))


def _snapshot(lead: Lead) -> LeadSnapshot:
    return LeadSnapshot(
        lead_id=pk(lead),
        contact_id=lead.crm_contact_id,
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=lead.email,
        phone=lead.phone,
        source=lead.source,
        timezone=lead.timezone,
        status=str(lead.status),
        score=lead.score,
        temperature=str(lead.temperature),
    )


def claim(session: Session, *, now: datetime) -> list[Office]:
    """Take what is due and settle what needs no call (sync turned off, token refused,
    GoHighLevel's pause); mark the rest `sending`. The caller commits before calling."""
    rows = repository.claim_due(session, now=now)
    leads = {
        pk(lead): lead
        for lead in session.execute(
            select(Lead).where(col(Lead.id).in_({r.lead_id for r in rows}))
        ).scalars()
    }
    offices: dict[int, tuple[OfficeGhl, Office | None]] = {}
    for row in rows:
        if row.tenant_id not in offices:
            found = office_ghl(session, tenant_id=row.tenant_id)
            offices[row.tenant_id] = (found, _office_for(found, row.tenant_id, now))
        (found, office), lead = offices[row.tenant_id], leads.get(row.lead_id)
        if office is None or lead is None:
            if lead is None or not found.active:
                row.status, row.next_attempt_at, row.updated_at = "skipped", None, now
                row.error = "GoHighLevel sync is off for the office."
            else:  # waiting for a person (refused token) or for GoHighLevel's pause
                paused = found.paused_until
                row.status = "queued"
                row.next_attempt_at = paused if paused and paused > now else now + ATTENTION_RECHECK
                row.error = (
                    f"Waiting: GoHighLevel needs attention ({found.row.last_error})"
                    if found.attention and found.row is not None
                    else "Waiting: GoHighLevel asked us to slow down (429)."
                )[:500]
            continue
        row.status, row.attempts = "sending", row.attempts + 1
        row.sent_version, row.next_attempt_at = row.version, now + CLAIM_LEASE
        office.writes.append(
            Write(
                write_id=pk(row),
                kind=row.kind,
                version=row.version,
                attempts=row.attempts,
                ghl_id=row.ghl_id,
                payload=dict(row.payload or {}),
                lead=_snapshot(lead),
            )
        )
    return [o for _, o in offices.values() if o is not None and o.writes]


def _office_for(found: OfficeGhl, tenant_id: int, now: datetime) -> Office | None:
    """The office's connection details, or None when it must not be called now."""
    paused = found.paused_until
    if not found.active or found.attention or (paused is not None and paused > now):
        return None
    assert found.token is not None
    return Office(
        tenant_id=tenant_id,
        base_url=found.base_url,
        token=found.token,
        location_id=found.location_id,
        won_stage=found.won_stage,
        field_ids=dict(found.state_data.get("field_ids") or {}),
    )


def _settle(row: GhlWrite, outcome: Outcome | None, write: Write, now: datetime) -> str:
    """Apply one answer to its row; the count it goes in."""
    row.updated_at = now
    if outcome is None:  # not tried (an earlier write stopped the office): no attempt
        row.status, row.attempts, row.next_attempt_at = "queued", row.attempts - 1, now
        return "untried"
    row.result = outcome.result[:500]
    if outcome.verdict == "done":
        row.payload = dict(row.payload or {}) | outcome.payload
        row.ghl_id = outcome.ghl_id or row.ghl_id
        row.error, row.done_at = None, now
        if row.version != write.version:  # changed while in flight: the latest goes too
            row.status, row.attempts, row.next_attempt_at = "queued", 0, now
        else:
            row.status, row.next_attempt_at = "done", None
        return "done"
    row.error = outcome.result[:500]
    if outcome.verdict == "attention":
        row.status, row.attempts = "queued", row.attempts - 1
        row.next_attempt_at = now + ATTENTION_RECHECK
        return "needs_attention"
    if outcome.verdict == "failed":
        row.status, row.next_attempt_at = "failed", None
        return "failed"
    if row.attempts >= MAX_ATTEMPTS or row.created_at <= now - GIVE_UP_AFTER:
        row.status, row.next_attempt_at = "failed", None
        row.error = f"Gave up after {row.attempts} tries: {outcome.result}"[:500]
        return "failed"
    row.status = "queued"
    row.next_attempt_at = now + backoff(row.attempts, outcome.retry_after)
    return "retrying"


def record(
    session: Session, offices: list[Office], runs: dict[int, OfficeRun], *, now: datetime
) -> dict[str, int]:
    """Apply the answers to the rows, the leads' contact ids and the offices' health."""
    counts = {"done": 0, "retrying": 0, "failed": 0, "needs_attention": 0, "untried": 0}
    for office in offices:
        run = runs[office.tenant_id]
        for write in office.writes:
            row = session.get(GhlWrite, write.write_id)
            if row is None:  # the lead was erased meanwhile
                continue
            outcome = run.outcomes.get(write.write_id)
            counts[_settle(row, outcome, write, now)] += 1
            lead = session.get(Lead, write.lead.lead_id)
            if lead is None:
                continue
            learned = run.contacts.get(lead.id or 0)
            if learned and lead.crm_contact_id in (None, write.lead.contact_id):
                lead.crm_contact_id = learned
            if outcome is not None and outcome.forget_contact:
                if lead.crm_contact_id == write.lead.contact_id:
                    lead.crm_contact_id = None
                row.error = (
                    f"{outcome.result} - the contact is gone at GoHighLevel (deleted there?); "
                    "Resync makes it again."
                )[:500]
        _health(session, office, run, now=now)
    return counts


def _health(session: Session, office: Office, run: OfficeRun, *, now: datetime) -> None:
    row = integrations.integration_row(
        session, tenant_id=office.tenant_id, integration=GHL, create=True
    )
    assert row is not None
    state: dict[str, Any] = dict(row.state or {})
    if run.field_ids is not None:
        state["field_ids"] = run.field_ids
    if run.limits:
        state["limits"] = run.limits
    outcomes = list(run.outcomes.values())
    if any(o.verdict == "done" for o in outcomes):
        integrations.record_ok(row, now=now)
    problems = [o for o in outcomes if o.verdict in ("failed", "retry")]
    if problems:
        integrations.record_error(row, problems[-1].result, now=now)
    for outcome in outcomes:
        if outcome.verdict == "retry" and outcome.status == 429:
            pause = outcome.retry_after if outcome.retry_after is not None else DEFAULT_PAUSE
            state["paused_until"] = (now + timedelta(seconds=pause)).isoformat()
        if outcome.verdict == "attention":
            integrations.record_error(row, outcome.result, now=now, refused=office.token)
    row.state = state


def run_job(session: Session, now: datetime, *, budget: float = RUN_BUDGET_SECONDS) -> dict:
    """The `ghl_sync` job: claim (committed before any call), write, record."""
    offices = claim(session, now=now)
    session.commit()
    counts: dict[str, int] = {"claimed": sum(len(o.writes) for o in offices)}
    if not offices:
        return counts
    runs = http.run_blocking(lambda: write_all(offices, budget=budget))
    counts["calls"] = sum(run.calls for run in runs.values())
    return counts | record(session, offices, runs, now=now)


# --- Settings: "Test connection" ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TestTarget:
    tenant_id: int
    base_url: str
    token: str
    location_id: str


@dataclass(frozen=True, slots=True)
class TestResult:
    answer: ghl.Answer
    stages: list[dict[str, str]] | None = None
    limits: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        return self.answer.ok


def test_target(session: Session, *, viewer: Viewer) -> TestTarget:
    require_manager(viewer, "test the GoHighLevel connection")
    integrations.refuse_demo_calls(session, viewer.tenant_id)
    office = office_ghl(session, tenant_id=viewer.tenant_id)
    if office.token is None:
        raise Conflict("No GoHighLevel token yet: paste one and save, then test.")
    return TestTarget(viewer.tenant_id, office.base_url, office.token, office.location_id)


async def test_connection(target: TestTarget) -> TestResult:
    """Two real calls, no retries (a person is waiting): one page of one contact (the answer
    names the location's contact count) and the pipelines (the won-stage choices)."""
    async with outbound(target.location_id, attempts=1) as client:
        conn = ghl.Connection(client, target.base_url, target.token, target.location_id)
        page = await ghl.contacts_page(conn, limit=1)
        if not page.ok:
            return TestResult(page, limits=conn.limits)
        total = (page.data.get("meta") or {}).get("total")
        listed = await ghl.pipelines(conn)
        if not listed.ok:
            return TestResult(listed, limits=conn.limits)
        stages = ghl.stages_of(listed)
        names = sorted({s["pipeline"] for s in stages})
        detail = (
            f"{page.detail}: location {target.location_id} has "
            f"{total if total is not None else 'an unknown number of'} contacts; "
            f"{len(names)} pipeline{'s' if len(names) != 1 else ''}"
            + (f" ({', '.join(names)})" if names else "")
        )
        return TestResult(
            ghl.Answer(ghl.Verdict.OK, page.status, detail), stages=stages, limits=conn.limits
        )


def record_test(
    session: Session, *, viewer: Viewer, target: TestTarget, result: TestResult, now: datetime
) -> None:
    """A good answer clears "needs attention" and lets waiting writes go; a refused token sets
    it; the pipelines found become the won-stage choices."""
    require_manager(viewer, "test the GoHighLevel connection")
    row = integrations.integration_row(
        session, tenant_id=viewer.tenant_id, integration=GHL, create=True
    )
    assert row is not None
    state = dict(row.state or {})
    if result.limits:
        state["limits"] = result.limits
    answer = result.answer
    if answer.ok:
        integrations.record_ok(row, now=now)
        state.pop("paused_until", None)
        state["stages"] = result.stages or []
        repository.release_waiting(session, tenant_id=viewer.tenant_id, now=now)
    elif answer.verdict == ghl.Verdict.ATTENTION:
        integrations.record_error(row, answer.detail, now=now, refused=target.token)
    else:
        integrations.record_error(row, answer.detail, now=now)
    row.state = state
