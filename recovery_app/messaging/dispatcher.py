"""The dispatcher: claims due outbox rows, passes each through the compliance guard, sends it
through its channel and records what happened.

Exactly-once rules: a row is `sending` (committed) before any provider call; the provider call
happens outside any transaction; a send whose answer never came is reconciled with the provider
rather than repeated. Every back-end worker runs one dispatcher; the claim makes them share the
outbox without doubles.
"""

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import get_engine, session_scope
from recovery_app.domain.accounts.office import prices_of
from recovery_app.domain.compliance import guard, revocation, state_rules
from recovery_app.domain.compliance.suppression import is_suppressed, suppress, suppressed_among
from recovery_app.domain.leads import timeline
from recovery_app.messaging import outcomes, repository, senders, wake
from recovery_app.messaging.channels import Channel as Carrier
from recovery_app.messaging.channels import Outcome, Outgoing, SendResult, channel_for
from recovery_app.messaging.outbox import PAUSED_HOLD
from recovery_app.messaging.pacing import Pacer, Slot
from recovery_app.messaging.segments import sms_segments
from recovery_app.messaging.unsubscribe import unsubscribe_url
from recovery_app.models import (
    Campaign,
    CampaignStatus,
    Channel,
    Lead,
    Message,
    MessageCategory,
    MessageStatus,
    Tenant,
    pk,
)
from recovery_app.observability import metrics, request_id
from recovery_app.settings import get_settings

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_MIN = 30.0
BACKOFF_MAX = 3600.0
# A claimed row not finished within this is presumed lost (crashed worker) and reconciled.


def sending_lease() -> timedelta:
    """How long a `sending` row is left to the worker that claimed it before another worker
    reconciles it: several provider timeouts, so only a dead worker's rows are taken over."""
    return timedelta(seconds=max(30.0, 4 * get_settings().provider_timeout_seconds))


RECONCILE_AFTER = {Channel.SMS: timedelta(seconds=30), Channel.EMAIL: timedelta(minutes=10)}
# A marketing text waits this long at most for its number's slot inside a pass; later slots
# are waited for in the queue (the dispatcher wakes when the earliest comes). A pass that slept
# a second for a campaign text held every first response claimed after it for that second.
PACING_MAX_WAIT = 0.05
# Recording a provider's answer while the database is away: first wait, longest wait.
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_MAX = 4.0
IDLE_WAIT_SECONDS = 2.0
STALE_CHECK = timedelta(seconds=10)

# Permanent SMS errors after which the number is never tried again.
DEAD_NUMBER_CODES = {"21211", "21214", "21614", "30005", "30006"}


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    held: int = 0
    blocked: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    reconciled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "DispatchStats") -> None:
        for name in (
            "claimed",
            "sent",
            "held",
            "blocked",
            "retried",
            "failed",
            "unknown",
            "reconciled",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


def backoff_seconds(
    attempt: int, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """30 s, 60 s, 120 s ... capped at 1 h, with jitter so retries of a burst spread out."""
    base = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, attempt - 1))
    jittered = base * (0.75 + 0.5 * (rng or random).random())
    return max(BACKOFF_MIN, min(BACKOFF_MAX, max(jittered, retry_after or 0.0)))


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(
        self,
        worker: str,
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], datetime] = _now,
    ):
        self.worker = worker
        # Provider calls wait on the network, so one worker sends several at once. SQLite has
        # one writer whatever we do: there, one at a time.
        sqlite = get_engine().dialect.name == "sqlite"
        self.concurrency = 1 if sqlite else (concurrency or get_settings().dispatch_concurrency)
        # A claim takes only what this worker is about to send: rows claimed but waiting here
        # would wait behind our sends while another worker sits idle.
        self.batch_size = batch_size or 2 * self.concurrency
        self.pacer = pacer or Pacer()
        # The time the dispatcher lives in (tests move it forward to reach retries and mornings).
        self.clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._stats_lock = threading.Lock()
        self._stale_checked_at: datetime | None = None
        self._bulk = _BulkTextPace(self.batch_size)

    # ------------------------------------------------------------------ one pass
    def run_once(self) -> DispatchStats:
        """Reconcile stale rows (every few seconds), then claim and handle one batch of due
        ones."""
        stats = DispatchStats()
        now = self.clock()
        # Stale rows are leases run out - minutes - so looking for them on every pass (at each
        # commit that queued something) only costs a transaction per pass.
        if self._stale_checked_at is None or now - self._stale_checked_at >= STALE_CHECK:
            self._stale_checked_at = now
            with session_scope() as session:
                stale = repository.claim_stale(
                    session, now=now, limit=self.batch_size, lease=sending_lease()
                )
            self._each(self._reconcile, stale, stats)
        self._dispatch_batch(stats)
        return stats

    def _dispatch_batch(self, stats: DispatchStats) -> None:
        """Claim, check and mark a batch in one transaction, send it, record it in another:
        two transactions a batch where a claim and two per message took 1 + 2n. When either
        transaction fails (a bug in one row must not hold up the others), the batch is done
        again one message at a time, each in its own transactions, as `_process` does."""
        own, now = DispatchStats(), self.clock()
        bulk_texts = self._bulk.claimable()
        try:
            with session_scope() as session:
                due = repository.claim_due(
                    session,
                    now=now,
                    limit=self.batch_size,
                    lease=sending_lease(),
                    bulk_texts=bulk_texts,
                )
                loaded = _load_many(session, due)
                known = _BatchFacts.of(session, loaded.values())
                ready = [
                    r for i in due if (r := self._prepare(session, *loaded[i], now, own, known))
                ]
        except Exception:
            logger.exception("dispatching a batch failed; one message at a time instead")
            with session_scope() as session:
                due = repository.claim_due(
                    session,
                    now=self.clock(),
                    limit=self.batch_size,
                    lease=sending_lease(),
                    bulk_texts=bulk_texts,
                )
            stats.claimed += len(due)
            self._each(self._process, due, stats)
            self._bulk.after_pass()
            return
        stats.claimed += len(due)
        stats.add(own)
        results = self._map(lambda r: self._send(r, stats), ready)
        self._bulk.after_pass()
        sent = [(r.message_id, result) for r, result in zip(ready, results, strict=True) if result]
        if not sent:
            return
        own = DispatchStats()
        try:
            with session_scope() as session:
                loaded = _load_many(session, [message_id for message_id, _ in sent])
                for message_id, result in sent:
                    self._apply(session, *loaded[message_id], result, own)
        except Exception:
            logger.exception("recording a batch failed; one message at a time instead")
            self._each(
                lambda i, st: self._record(i, dict(sent)[i], st), [i for i, _ in sent], stats
            )
            return
        stats.add(own)

    def _map(self, fn: Callable[["_Ready"], SendResult | None], items: list["_Ready"]) -> list:
        """`fn` over `items`, up to `concurrency` at a time (provider calls wait on the network)."""
        if self.concurrency <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatch")
        futures = [self._pool.submit(fn, item) for item in items]
        return [
            self._result_or_none(future, item) for future, item in zip(futures, items, strict=True)
        ]

    @staticmethod
    def _result_or_none(future, item: "_Ready") -> SendResult | None:
        try:
            return future.result()
        except Exception:
            # The row stays `sending`; its lease runs out and reconciliation picks it up.
            logger.exception("sending message %s failed", item.message_id)
            return None

    def _each(self, step, message_ids: list[int], stats: DispatchStats) -> None:
        """Run `step` for every id, up to `concurrency` at a time; returns when all are done."""
        if self.concurrency <= 1 or len(message_ids) <= 1:
            for message_id in message_ids:
                self._guarded(step, message_id, stats)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatch")
        futures = [self._pool.submit(self._guarded, step, i, stats) for i in message_ids]
        for future in futures:
            future.result()

    def bulk_texts_open_in(self) -> float | None:
        """Seconds until this dispatcher claims marketing texts again, when it waits for a
        number's slot (`run_forever` wakes then)."""
        return self._bulk.opens_in()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def drain(self, max_passes: int = 1000) -> DispatchStats:
        """Run passes until a pass finds nothing due (tests, benchmarks, the CLI)."""
        total = DispatchStats()
        for _ in range(max_passes):
            stats = self.run_once()
            total.add(stats)
            if not stats.claimed and not stats.reconciled:
                break
        return total

    def _guarded(self, step, message_id: int, stats: DispatchStats) -> None:
        own = DispatchStats()
        try:
            step(message_id, own)
        except Exception as exc:
            # The row stays `sending`; its lease runs out and reconciliation picks it up.
            logger.exception("dispatching message %s failed", message_id)
            own.errors.append(f"{message_id}: {exc}")
        with self._stats_lock:  # steps run on several threads
            stats.add(own)

    # ------------------------------------------------------------------ sending
    def _process(self, message_id: int, stats: DispatchStats) -> None:
        """One claimed message in transactions of its own (what a failed batch falls back to)."""
        with session_scope() as session:
            ready = self._prepare(session, *_load(session, message_id), self.clock(), stats)
        if ready is None:
            return
        result = self._send(ready, stats)
        if result is not None:
            self._record(message_id, result, stats)

    def _record(self, message_id: int, result: SendResult, stats: DispatchStats) -> None:
        """Write down the provider's answer. While the database is away, keep trying for half
        the lease: the answer is in hand, and a row left `sending` is reconciled by another
        worker after the lease - for email by sending again, as SendGrid has no lookup."""
        deadline = time.monotonic() + sending_lease().total_seconds() / 2
        wait = RECORD_RETRY_FIRST
        while True:
            own = DispatchStats()
            try:
                with session_scope() as session:
                    message, lead, tenant = _load(session, message_id)
                    # Recorded already: a commit whose acknowledgement was lost, or another
                    # worker that reconciled the row.
                    if message.status != MessageStatus.SENDING:
                        return
                    self._apply(session, message, lead, tenant, result, own)
            except (OperationalError, InterfaceError):
                if time.monotonic() + wait > deadline:
                    raise
                logger.warning(
                    "recording message %s failed (database unreachable); retrying in %.1f s",
                    message_id,
                    wait,
                )
                time.sleep(wait)
                wait = min(wait * 2, RECORD_RETRY_MAX)
                continue
            stats.add(own)
            return

    def _prepare(
        self,
        session: Session,
        message: Message,
        lead: Lead | None,
        tenant: Tenant,
        now: datetime,
        stats: DispatchStats,
        known: "_BatchFacts | None" = None,
    ) -> "_Ready | None":
        """Pass a claimed message through the guard: hold or block it (None), or make it
        ready to send. Changes the row in `session`; the caller commits before sending."""
        # Under the id of the request (or job run) that queued the row: a webhook's
        # X-Request-ID leads to the dispatcher's lines for its reply.
        with request_id.bound(message.request_id):
            return self._check(session, message, lead, tenant, now, stats, known)

    def _check(
        self,
        session: Session,
        message: Message,
        lead: Lead | None,
        tenant: Tenant,
        now: datetime,
        stats: DispatchStats,
        known: "_BatchFacts | None",
    ) -> "_Ready | None":
        if _campaign_paused(session, message):
            # Paused after this row was claimed: it waits with the others until a resume.
            _hold(message, until=now, reason=PAUSED_HOLD, now=now)
            message.next_attempt_at = None
            stats.held += 1
            return None
        if lead is None:  # an alert to one of our own users: no lead rules apply
            verdict = guard.Verdict(guard.Action.SEND)
        else:
            verdict = guard.check(
                facts_for(session, message, lead, tenant, now, known=known), now=now
            )
        if verdict.action != guard.Action.SEND:
            outcomes.record_verdict(session, message, verdict)
        if verdict.action == guard.Action.BLOCK:
            message.status = MessageStatus.SUPPRESSED
            message.error_code, message.error_message = verdict.reason, verdict.detail
            message.hold_reason, message.next_attempt_at, message.updated_at = None, None, now
            message.attempts -= 1
            stats.blocked += 1
            return None
        if verdict.action == guard.Action.HOLD:
            _hold(message, until=verdict.until or now, reason=verdict.detail, now=now)
            stats.held += 1
            return None
        if verdict.body:
            message.body = verdict.body
        message.from_address = _sender(tenant, Channel(message.channel), message.to_address)
        message.hold_reason = None
        kind = Channel(message.channel)
        demo = tenant.is_demo or tenant.demo_expires_at is not None
        return _Ready(
            message_id=pk(message),
            request_id=message.request_id,
            urgent=message.category != MessageCategory.MARKETING,
            kind=kind,
            channel=channel_for(kind, demo_tenant=demo),
            outgoing=_outgoing(message, lead, tenant, attempted_at=now),
        )

    def _send(self, ready: "_Ready", stats: DispatchStats) -> SendResult | None:
        """The provider call, outside any transaction and after `sending` was committed; None
        when the number's pacing slot is too far off (the message was held for it)."""
        with request_id.bound(ready.request_id):
            return self._paced_send(ready, stats)

    def _paced_send(self, ready: "_Ready", stats: DispatchStats) -> SendResult | None:
        if ready.kind == Channel.SMS and ready.channel.provider == "sandbox" and not ready.urgent:
            self._bulk.answered(Slot(True, 0.0))  # not paced: sent as claimed
        if ready.kind == Channel.SMS and ready.channel.provider != "sandbox":
            sender = ready.outgoing.sender or ""
            slot = self.pacer.take(
                sender,
                per_second=senders.per_second(sender),
                max_wait=PACING_MAX_WAIT,
                urgent=ready.urgent,
            )
            if not ready.urgent:
                self._bulk.answered(slot)
            if not slot.taken:
                with session_scope() as session:
                    held = session.get(Message, ready.message_id)
                    assert held is not None
                    _hold(
                        held,
                        until=self.clock() + timedelta(seconds=slot.wait_seconds),
                        reason="Pacing: waiting for this number's next sending slot",
                        now=self.clock(),
                    )
                with self._stats_lock:
                    stats.held += 1
                return None
            if slot.wait_seconds:
                time.sleep(slot.wait_seconds)
        with metrics.timed(ready.channel.provider, "send"):
            return ready.channel.send(ready.outgoing)

    def _reconcile(self, message_id: int, stats: DispatchStats) -> None:
        with session_scope() as session:
            message, lead, tenant = _load(session, message_id)
            outgoing = _outgoing(message, lead, tenant, attempted_at=message.updated_at)
            demo = tenant.is_demo or tenant.demo_expires_at is not None
            kind = Channel(message.channel)
            queued_by = message.request_id
        channel = channel_for(kind, demo_tenant=demo)
        with request_id.bound(queued_by), metrics.timed(channel.provider, "reconcile"):
            result = channel.reconcile(outgoing)
        stats.reconciled += 1
        self._record(message_id, result, stats)

    def _apply(
        self,
        session: Session,
        message: Message,
        lead: Lead | None,
        tenant: Tenant,
        result: SendResult,
        stats: DispatchStats,
    ) -> None:
        """Record what the provider answered, count and log it, under the id of the request
        that queued the message."""
        with request_id.bound(message.request_id):
            self._apply_result(session, message, lead, tenant, result, stats)
            outcomes.record_result(session, message, result)

    def _apply_result(
        self,
        session: Session,
        message: Message,
        lead: Lead | None,
        tenant: Tenant,
        result: SendResult,
        stats: DispatchStats,
    ) -> None:
        now = self.clock()
        message.provider, message.updated_at = result.provider, now
        if result.outcome in (Outcome.SENT, Outcome.SIMULATED):
            message.status = (
                MessageStatus.SIMULATED
                if result.outcome == Outcome.SIMULATED
                else MessageStatus.SENT
            )
            message.provider_id = result.provider_id or message.provider_id
            # The Messaging Service's pick: replies to that number find this office by it.
            message.from_address = result.sender or message.from_address
            message.sent_at, message.next_attempt_at = now, None
            message.error_code = message.error_message = None
            prices = prices_of(tenant)  # the office's, over the deployment's defaults
            if message.channel == Channel.SMS:
                message.segments = sms_segments(message.body)
                message.cost_microdollars = round(
                    message.segments * prices["sms_segment_usd"] * 1_000_000
                )
            else:
                message.cost_microdollars = round(prices["email_usd"] * 1_000_000)
            if lead is not None:
                timeline.record_outbound(session, lead, message, now=now)
            stats.sent += 1
            return
        message.error_code, message.error_message = result.error_code, result.error_message
        if result.outcome == Outcome.UNKNOWN:
            message.next_attempt_at = now + RECONCILE_AFTER[Channel(message.channel)]
            stats.unknown += 1
            return
        if result.outcome == Outcome.TRANSIENT and message.attempts < MAX_ATTEMPTS:
            message.status = MessageStatus.QUEUED
            message.next_attempt_at = now + timedelta(
                seconds=backoff_seconds(message.attempts, result.retry_after_seconds)
            )
            stats.retried += 1
            return
        message.status, message.failed_at, message.next_attempt_at = MessageStatus.FAILED, now, None
        stats.failed += 1
        if lead is not None:
            if result.outcome == Outcome.PERMANENT:
                _permanent_side_effects(session, message, lead, result, now)
            timeline.tell_failure(session, lead, message, now=now)


def _load(session: Session, message_id: int) -> tuple[Message, Lead | None, Tenant]:
    """The message with its lead (none for alerts to staff) and tenant, in one query."""
    message, lead, tenant = session.execute(
        select(Message, Lead, Tenant)
        .join(Tenant, col(Tenant.id) == col(Message.tenant_id))
        .outerjoin(Lead, col(Lead.id) == col(Message.lead_id))
        .where(col(Message.id) == message_id)
    ).one()
    return message, lead, tenant


def _load_many(
    session: Session, message_ids: list[int]
) -> dict[int, tuple[Message, Lead | None, Tenant]]:
    """`_load` for a batch, in one query."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(Message, Lead, Tenant)
        .join(Tenant, col(Tenant.id) == col(Message.tenant_id))
        .outerjoin(Lead, col(Lead.id) == col(Message.lead_id))
        .where(col(Message.id).in_(message_ids))
    ).all()
    return {pk(message): (message, lead, tenant) for message, lead, tenant in rows}


@dataclass(frozen=True, slots=True)
class _BatchFacts:
    """The guard facts that cost a query per message, read once for a claimed batch (its
    guard changes no status and adds no suppression, so they hold for the whole batch)."""

    suppressed: set[tuple[int, Channel, str]]
    sms_bounds: dict[int, tuple[int, int]]  # lead -> lowest, highest id of a text that left

    @classmethod
    def of(
        cls, session: Session, loaded: Iterable[tuple[Message, Lead | None, Tenant]]
    ) -> "_BatchFacts":
        rows = [(message, lead) for message, lead, _ in loaded if lead is not None]
        return cls(
            suppressed=suppressed_among(
                session,
                [(m.tenant_id, Channel(m.channel), m.to_address or "") for m, _ in rows],
            ),
            sms_bounds=repository.outbound_sms_bounds(
                session, lead_ids={pk(lead) for m, lead in rows if m.channel == Channel.SMS}
            ),
        )

    def prior_outbound_sms(self, lead_id: int, message_id: int) -> bool:
        bounds = self.sms_bounds.get(lead_id)
        return bounds is not None and bounds != (message_id, message_id)


class _BulkTextPace:
    """How many marketing texts the next pass claims. A number sends one a second by default,
    so of a 5,000-text campaign due at once a pass used to claim a batch, check each against
    the guard and put back all but the one the number could send, a transaction each, on
    every pass of every worker. So: after a pass whose texts the pacer turned away, claim none
    until the earliest slot it named, then as many as the last pass could send; a pass that
    sent all it claimed doubles the number, up to a batch. Marketing email and everything a
    person waits for are not limited here. Per dispatcher; the pacer's slots are shared."""

    def __init__(self, most: int):
        self.most = most
        self.budget = most
        self.closed_until = 0.0  # time.time(), as the pacer's slots
        self._taken = 0
        self._refused_until: list[float] = []
        self._lock = threading.Lock()  # sends run on several threads

    def claimable(self) -> int:
        return self.budget if time.time() >= self.closed_until else 0

    def opens_in(self) -> float | None:
        """Seconds until marketing texts may be claimed again, if that is still to come."""
        left = self.closed_until - time.time()
        return left if left > 0 else None

    def answered(self, slot: "Slot") -> None:
        with self._lock:
            if slot.taken:
                self._taken += 1
            else:
                self._refused_until.append(time.time() + slot.wait_seconds)

    def after_pass(self) -> None:
        with self._lock:
            taken, refused = self._taken, self._refused_until
            self._taken, self._refused_until = 0, []
        if refused:
            self.budget = max(1, taken)
            self.closed_until = min(refused)
        elif taken >= self.budget:
            self.budget = min(self.most, 2 * self.budget)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A claimed message that passed the guard, with what its channel needs to send it."""

    message_id: int
    request_id: str | None  # of the request or job run that queued it
    urgent: bool  # a person is waiting for it: not paced (messaging/pacing.py)
    kind: Channel
    channel: Carrier
    outgoing: Outgoing


def _campaign_paused(session: Session, message: Message) -> bool:
    if message.campaign_id is None:
        return False
    campaign = session.get(Campaign, message.campaign_id)  # _facts reads it again: cached
    return campaign is not None and campaign.status == CampaignStatus.PAUSED


def _hold(message: Message, *, until: datetime, reason: str, now: datetime) -> None:
    """Back to the queue for later; a hold is not an attempt."""
    message.status = MessageStatus.QUEUED
    message.next_attempt_at = until
    message.hold_reason = reason[:255]
    message.attempts = max(0, message.attempts - 1)
    message.updated_at = now


def _sender(tenant: Tenant, kind: Channel, to: str | None) -> str | None:
    settings = get_settings()
    if kind == Channel.SMS:
        return senders.sms_sender(tenant, to or "", settings)
    return tenant.sender_email or settings.sendgrid_from_email


def _outgoing(
    message: Message, lead: Lead | None, tenant: Tenant, *, attempted_at: datetime
) -> Outgoing:
    # Marketing rules (footer address, unsubscribe) are for leads, not for alerts to our staff.
    email = message.channel == Channel.EMAIL and lead is not None
    return Outgoing(
        message_id=message.id,  # type: ignore[arg-type]
        tenant_id=message.tenant_id,
        to=message.to_address or "",
        body=message.body,
        subject=message.subject,
        sender=message.from_address
        or _sender(tenant, Channel(message.channel), message.to_address),
        sender_name=tenant.sender_name or tenant.name,
        footer_address=tenant.postal_address if email else None,
        unsubscribe_url=unsubscribe_url(tenant_id=pk(tenant), lead_id=pk(lead))
        if email and lead
        else None,
        attempted_at=attempted_at,
    )


def facts_for(
    session: Session,
    message: Message,
    lead: Lead,
    tenant: Tenant,
    now: datetime,
    *,
    known: _BatchFacts | None = None,
) -> guard.Facts:
    """What the guard needs for `message` (a flushed row): also used to tell an agent at once
    what will happen to a message they just wrote. `known`: what its batch already read."""
    settings = get_settings()
    kind = Channel(message.channel)
    cap = settings.marketing_cap_per_day
    if message.campaign_id is not None:
        campaign = session.get(Campaign, message.campaign_id)
        cap = campaign.frequency_cap_per_day if campaign else cap
    return guard.Facts(
        channel=kind,
        category=message.category,
        body=message.body,
        to_address=message.to_address,
        lead_timezone=lead.timezone,
        lead_phone=lead.phone,
        tenant_timezone=tenant.timezone,
        tenant_quiet_start=tenant.quiet_hours_start,
        tenant_quiet_end=tenant.quiet_hours_end,
        tenant_has_postal_address=bool((tenant.postal_address or "").strip()),
        consent=lead.consent_sms if kind == Channel.SMS else lead.consent_email,
        has_inbound=lead.last_inbound_at is not None,
        opted_out=lead.opted_out_sms if kind == Channel.SMS else lead.opted_out_email,
        revoked_elsewhere=revocation.revoked_elsewhere(lead, tenant, kind, now),
        suppressed=bool(message.to_address)
        and (
            (pk(tenant), kind, message.to_address or "") in known.suppressed
            if known
            else is_suppressed(
                session, tenant_id=pk(tenant), channel=kind, address=message.to_address or ""
            )
        ),
        # Each fact costs a query per send: read only those the guard looks at for this message.
        prior_outbound_sms=kind == Channel.SMS
        and (
            known.prior_outbound_sms(pk(lead), pk(message))
            if known
            else repository.prior_outbound_sms(session, lead_id=pk(lead), exclude_id=pk(message))
        ),
        marketing_sent_last_24h=repository.marketing_sent_since(
            session, lead_id=pk(lead), since=now - timedelta(hours=24), exclude_id=pk(message)
        )
        if message.category == MessageCategory.MARKETING
        else [],
        marketing_cap=cap,
        state_rules=state_rules.rules(settings),
    )


def _permanent_side_effects(
    session: Session, message: Message, lead: Lead, result: SendResult, now: datetime
) -> None:
    """What a permanent refusal teaches us about the address."""
    if message.channel != Channel.SMS or not message.to_address:
        return
    if result.error_code == "21610":
        timeline.opt_out(
            session,
            lead,
            Channel.SMS,
            reason="Carrier reports the number unsubscribed (21610)",
            now=now,
            actor_label="provider:twilio",
        )
    elif result.error_code in DEAD_NUMBER_CODES:
        suppress(
            session,
            tenant_id=message.tenant_id,
            channel=Channel.SMS,
            address=message.to_address,
            reason=f"undeliverable ({result.error_code})",
        )


async def run_forever(dispatcher: Dispatcher) -> None:
    """The back-end loop: a pass whenever a commit queued something, else every 2 s."""
    loop = asyncio.get_running_loop()
    signal = asyncio.Event()
    wake.attach(loop, signal)
    try:
        while True:
            # Cleared before the pass, so a commit during it wakes the next wait at once.
            signal.clear()
            try:
                stats = await asyncio.to_thread(dispatcher.run_once)
            except Exception:
                logger.exception("dispatcher pass failed")
                stats = DispatchStats()
            if stats.claimed >= dispatcher.batch_size or stats.reconciled:
                continue  # a full batch: there may be more (a short one took all that was due)
            # Idle, but woken for the number's next slot when a campaign waits for it.
            opens_in = dispatcher.bulk_texts_open_in()
            timeout = IDLE_WAIT_SECONDS if opens_in is None else min(IDLE_WAIT_SECONDS, opens_in)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=timeout)
    finally:
        wake.detach()


@contextlib.asynccontextmanager
async def embedded_dispatcher() -> AsyncIterator[None]:
    """Reflex lifespan task: every back-end worker dispatches the shared outbox."""
    from recovery_app.jobs.scheduler import worker_id

    dispatcher = Dispatcher(worker_id())
    task = asyncio.create_task(run_forever(dispatcher), name="outbox-dispatcher")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        dispatcher.close()
