"""Enriching leads with Apollo's people match, without ever holding up intake.

- Intake (`on_intake`, inside its transaction): a fresh cached answer (30 days, per Apollo
  account and person) is applied at once, before the lead is scored; otherwise the lead is
  queued (`enrichment_status` "pending"). The lead webhook then tries the lookup with a 2 s
  budget (`enrich_now`); whatever is not done by then, the `enrich_leads` job finishes, and
  the lead is rescored when the answer arrives (a `score_changed` activity).
- A lookup is claimed (the lead's due time moves ahead) and its call is written to the call
  log before the call, outside any transaction; the answer is recorded afterwards.
- No call is made when the office's monthly budget is used up (the lead says so), while its
  key needs attention (401/403: nothing more until the key changes or a test succeeds), or
  before the time Apollo's 429 asked for. Outages and 429s back off (1 min doubling to 1 h,
  or Apollo's own wait) for 24 h or 8 tries, then the lead says it failed.
"""

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.compliance.quiet_hours import valid_zone
from recovery_app.domain.enrichment import repository
from recovery_app.domain.enrichment.config import (
    APOLLO,
    OfficeApollo,
    month_start,
    office_apollo,
)
from recovery_app.errors import Conflict
from recovery_app.integrations import apollo, http
from recovery_app.models import EnrichmentCall, Lead, pk
from recovery_app.settings import get_settings

logger = logging.getLogger(__name__)

SOURCE = APOLLO
CACHE_FOR = timedelta(days=30)
INLINE_SECONDS = 2.0
# How long a claimed lookup is someone's; a worker that died mid-call frees it after this.
CLAIM_LEASE = timedelta(minutes=2)
ATTENTION_RECHECK = timedelta(minutes=10)
MAX_ATTEMPTS = 8
GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF_MIN, BACKOFF_MAX = 60.0, 3600.0
# A 429 without a readable Retry-After still pauses the office this long.
DEFAULT_PAUSE = 60.0


def lookup_key(lead: Lead) -> str | None:
    """Whom we ask about: the lower-cased email, else the E.164 phone."""
    if lead.email:
        return f"email:{lead.email.lower()}"
    if lead.phone:
        return f"phone:{lead.phone}"
    return None


def apply(lead: Lead, person: apollo.Person | None, *, now: datetime) -> None:
    """Put an answer on the lead. The lead's own time zone (from the form or a person) wins;
    Apollo's fills it only when the lead has none - it is where the person says they live,
    which beats guessing from a portable phone number."""
    lead.enriched_at, lead.enrichment_source = now, SOURCE
    lead.enrichment_due_at, lead.enrichment_note = None, None
    if person is None:
        lead.enrichment_status = "no_match"
        return
    lead.enrichment_status = "done"
    lead.job_title, lead.company, lead.seniority = (
        person.job_title,
        person.company,
        person.seniority,
    )
    lead.linkedin_url, lead.location = person.linkedin_url, person.location
    if not lead.timezone and (zone := valid_zone(person.time_zone)):
        lead.timezone = zone


def _apply_cached(lead: Lead, data: dict, matched: bool, *, now: datetime) -> None:
    apply(lead, apollo.Person.from_dict(data) if matched else None, now=now)


def on_intake(session: Session, lead: Lead, *, now: datetime) -> None:
    """Called by intake before scoring: apply a fresh cached answer, else queue the lead.
    Reads only; never calls Apollo (intake must not wait on it)."""
    if lead.enrichment_status in ("pending", "done", "no_match"):
        return
    key = lookup_key(lead)
    if key is None:
        return
    office = office_apollo(session, tenant_id=lead.tenant_id)
    if not office.active:
        return
    hit = repository.cached(
        session, provider=SOURCE, account=office.account, lookup_key=key, since=now - CACHE_FOR
    )
    if hit is not None:
        _apply_cached(lead, hit.data, hit.matched, now=now)
        return
    lead.enrichment_status, lead.enrichment_due_at = "pending", now
    lead.enrichment_note, lead.enrichment_attempts = None, 0


@dataclass(frozen=True, slots=True)
class Lookup:
    """One claimed call: made outside any transaction, recorded afterwards."""

    lead_id: int
    tenant_id: int
    call_id: int
    lookup_key: str
    account: str
    api_key: str
    base_url: str
    query: dict


def _rescore(session: Session, lead: Lead, now: datetime) -> None:
    from recovery_app.domain.leads import timeline

    timeline.rescore(session, lead, now=now)


def claim(session: Session, *, now: datetime, lead_ids: list[int] | None = None) -> list[Lookup]:
    """Take due pending leads and settle each one that needs no call (cached meanwhile,
    enrichment turned off, budget used up, key refused, Apollo's pause); reserve a logged call
    for the rest. The caller commits before calling."""
    ids = lead_ids if lead_ids is not None else repository.due_lead_ids(session, now=now)
    offices: dict[int, OfficeApollo] = {}
    lookups: list[Lookup] = []
    for lead_id in ids:
        if not repository.claim_lead(session, lead_id=lead_id, now=now, until=now + CLAIM_LEASE):
            continue
        lead = session.get(Lead, lead_id)
        assert lead is not None
        if lead.tenant_id not in offices:
            offices[lead.tenant_id] = office_apollo(session, tenant_id=lead.tenant_id)
            row = offices[lead.tenant_id].row
            if row is not None:
                repository.lock_office(session, pk(row))
        office = offices[lead.tenant_id]
        key = lookup_key(lead)
        if not office.active or key is None or office.key is None:
            lead.enrichment_status, lead.enrichment_due_at = "skipped", None
            lead.enrichment_note = (
                "Not looked up: enrichment was turned off before the lookup."
                if key is not None
                else "Not looked up: the lead has no email or phone."
            )
            continue
        hit = repository.cached(
            session, provider=SOURCE, account=office.account, lookup_key=key, since=now - CACHE_FOR
        )
        if hit is not None:  # another lead with the same address was looked up meanwhile
            _apply_cached(lead, hit.data, hit.matched, now=now)
            _rescore(session, lead, now)
            continue
        if office.attention:
            lead.enrichment_attempts -= 1  # waiting on a person is not a try
            lead.enrichment_due_at = now + ATTENTION_RECHECK
            lead.enrichment_note = (
                f"Waiting: Apollo needs attention in Settings -> Office ({office.row.last_error})"
                if office.row is not None
                else "Waiting: Apollo needs attention in Settings -> Office."
            )[:300]
            continue
        paused = office.paused_until
        if paused is not None and paused > now:
            lead.enrichment_attempts -= 1
            lead.enrichment_due_at = paused
            lead.enrichment_note = (
                f"Waiting: Apollo asked us to slow down until {paused:%H:%M:%S} UTC (429)."
            )
            continue
        used = repository.charged_calls(
            session, tenant_id=lead.tenant_id, provider=SOURCE, since=month_start(now)
        )
        if used >= office.monthly_budget:
            lead.enrichment_status, lead.enrichment_due_at = "skipped", None
            lead.enrichment_note = (
                f"Not looked up: this office's monthly budget of {office.monthly_budget} "
                "Apollo lookups is used up (it resets on the 1st, UTC; raise it in Settings -> "
                "Office)."
            )
            continue
        call = EnrichmentCall(
            tenant_id=lead.tenant_id, lead_id=lead_id, provider=SOURCE, called_at=now
        )
        session.add(call)
        session.flush()  # counted by the next lead's budget check, and by other workers
        lookups.append(
            Lookup(
                lead_id=lead_id,
                tenant_id=lead.tenant_id,
                call_id=pk(call),
                lookup_key=key,
                account=office.account,
                api_key=office.key,
                base_url=office.base_url,
                query=apollo.match_query(
                    email=lead.email,
                    phone=lead.phone,
                    first_name=lead.first_name,
                    last_name=lead.last_name,
                ),
            )
        )
    return lookups


async def call_all(
    lookups: list[Lookup], *, within: float | None = None, outbound: http.Outbound | None = None
) -> dict[int, apollo.Answer]:
    """Make the calls in parallel. With `within`, stop waiting after that many seconds (a
    person or a webhook caller is waiting): unfinished lookups have no answer."""
    settings = get_settings()
    timeout = settings.provider_timeout_seconds
    client = outbound or http.Outbound(
        APOLLO,
        timeout=min(timeout, within) if within else timeout,
        # Inline, one attempt: the job retries with backoff later.
        policy=http.RetryPolicy(attempts=1) if within else http.RetryPolicy(),
    )
    answers: dict[int, apollo.Answer] = {}

    async def one(lookup: Lookup) -> None:
        answers[lookup.lead_id] = await apollo.match(
            client, lookup.base_url, lookup.api_key, lookup.query
        )

    async with client:
        tasks = [asyncio.create_task(one(lookup)) for lookup in lookups]
        _done, pending = await asyncio.wait(tasks, timeout=within)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return answers


def _backoff(attempt: int, retry_after: float | None) -> timedelta:
    base = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, attempt - 1))
    return timedelta(seconds=max(base * (0.75 + 0.5 * random.random()), retry_after or 0.0))


def record(
    session: Session,
    lookups: list[Lookup],
    answers: dict[int, apollo.Answer],
    *,
    now: datetime,
    waited: float | None = None,
) -> dict[str, int]:
    """Apply the answers to the leads (rescoring them), the cache, the call log and the
    office's health."""
    counts = {"enriched": 0, "no_match": 0, "later": 0, "needs_attention": 0, "failed": 0}
    for lookup in lookups:
        call = session.get(EnrichmentCall, lookup.call_id)
        lead = session.get(Lead, lookup.lead_id)
        answer = answers.get(lookup.lead_id)
        row = integrations.integration_row(
            session, tenant_id=lookup.tenant_id, integration=APOLLO, create=True
        )
        assert call is not None and row is not None
        if answer is None:
            # We stopped waiting (intake's 2 s); Apollo may have answered and charged: counted.
            call.outcome = "unknown"
            if lead is not None and lead.enrichment_status == "pending":
                lead.enrichment_note = (
                    f"Apollo did not answer within {waited or INLINE_SECONDS:g} s; the "
                    "enrich_leads job finishes the lookup."
                )
            counts["later"] += 1
            continue
        if answer.verdict in (apollo.Verdict.MATCH, apollo.Verdict.NO_MATCH):
            matched = answer.verdict == apollo.Verdict.MATCH
            call.outcome = "match" if matched else "no_match"
            repository.store(
                session,
                provider=SOURCE,
                account=lookup.account,
                lookup_key=lookup.lookup_key,
                matched=matched,
                data=answer.person.as_dict() if answer.person else {},
                now=now,
            )
            integrations.record_ok(row, now=now)
            if lead is not None and lead.enrichment_status == "pending":
                apply(lead, answer.person, now=now)
                _rescore(session, lead, now)
            counts["enriched" if matched else "no_match"] += 1
            continue
        if lead is None or lead.enrichment_status != "pending":
            call.outcome = "retry"
            continue
        lead.enrichment_note = answer.detail[:300]
        if answer.verdict == apollo.Verdict.ATTENTION:
            call.outcome = "refused"
            integrations.record_error(row, answer.detail, now=now, refused=lookup.api_key)
            lead.enrichment_attempts -= 1
            lead.enrichment_due_at = now + ATTENTION_RECHECK
            counts["needs_attention"] += 1
        elif answer.verdict == apollo.Verdict.REJECTED:
            call.outcome = "rejected"
            integrations.record_error(row, answer.detail, now=now)
            lead.enrichment_status, lead.enrichment_due_at = "failed", None
            counts["failed"] += 1
        else:
            call.outcome = "retry"
            integrations.record_error(row, answer.detail, now=now)
            if answer.status == 429:
                pause = answer.retry_after if answer.retry_after is not None else DEFAULT_PAUSE
                until = now + timedelta(seconds=pause)
                row.state = dict(row.state or {}) | {"paused_until": until.isoformat()}
            if lead.enrichment_attempts >= MAX_ATTEMPTS or lead.created_at <= now - GIVE_UP_AFTER:
                lead.enrichment_status, lead.enrichment_due_at = "failed", None
                lead.enrichment_note = f"Gave up: {answer.detail}"[:300]
                counts["failed"] += 1
            else:
                lead.enrichment_due_at = now + _backoff(
                    lead.enrichment_attempts, answer.retry_after
                )
                counts["later"] += 1
    return counts


def enrich_now(lead_id: int, *, now: datetime, within: float = INLINE_SECONDS) -> None:
    """The intake route's inline try, from a worker thread without an event loop: claim,
    call with at most `within` seconds of waiting, record. Never raises: whatever goes wrong
    leaves the lead pending for the job, and the lead was stored before this began."""
    from recovery_app.db import session_scope

    started = time.monotonic()
    try:
        with session_scope() as session:
            lookups = claim(session, now=now, lead_ids=[lead_id])
        if not lookups:
            return
        left = max(0.1, within - (time.monotonic() - started))
        answers = http.run_blocking(lambda: call_all(lookups, within=left))
        with session_scope() as session:
            record(session, lookups, answers, now=datetime.now(UTC), waited=within)
    except Exception:
        logger.exception("inline enrichment of lead %s failed; the job will retry", lead_id)


def run_job(session: Session, now: datetime) -> dict[str, int]:
    """The `enrich_leads` job: claim what is due (committed before any call), call, record."""
    lookups = claim(session, now=now)
    session.commit()
    counts = {"claimed": len(lookups)}
    if not lookups:
        return counts
    answers = http.run_blocking(lambda: call_all(lookups))
    return counts | record(session, lookups, answers, now=now)


# --- Settings: "Test connection" ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TestTarget:
    tenant_id: int
    base_url: str
    api_key: str


def test_target(session: Session, *, viewer: Viewer) -> TestTarget:
    require_manager(viewer, "test the Apollo connection")
    integrations.refuse_demo_calls(session, viewer.tenant_id)
    office = office_apollo(session, tenant_id=viewer.tenant_id)
    if office.key is None:
        raise Conflict("No Apollo API key yet: paste one and save, then test.")
    return TestTarget(viewer.tenant_id, office.base_url, office.key)


async def test_connection(target: TestTarget) -> apollo.Answer:
    """One real call (`GET /api/v1/auth/health`), no retries: a person is waiting."""
    client = http.Outbound(
        APOLLO,
        timeout=get_settings().provider_timeout_seconds,
        policy=http.RetryPolicy(attempts=1),
    )
    async with client:
        return await apollo.health(client, target.base_url, target.api_key)


def record_test(
    session: Session, *, viewer: Viewer, target: TestTarget, answer: apollo.Answer, now: datetime
) -> None:
    """A good answer clears "needs attention" and lets waiting leads go; a refused key sets it."""
    require_manager(viewer, "test the Apollo connection")
    row = integrations.integration_row(
        session, tenant_id=viewer.tenant_id, integration=APOLLO, create=True
    )
    assert row is not None
    if answer.verdict == apollo.Verdict.MATCH:
        integrations.record_ok(row, now=now)
        row.state = {k: v for k, v in (row.state or {}).items() if k != "paused_until"}
        repository.release_waiting(session, tenant_id=viewer.tenant_id, now=now)
    elif answer.verdict == apollo.Verdict.ATTENTION:
        integrations.record_error(row, answer.detail, now=now, refused=target.api_key)
    else:
        integrations.record_error(row, answer.detail, now=now)
