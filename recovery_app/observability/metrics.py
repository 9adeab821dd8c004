"""Prometheus metrics. Two sources, chosen per metric (and each says which):

- Events counted where they happen (intake results, sends, holds, provider and AI calls, job
  durations). Production runs several Granian worker processes, so these use prometheus-client's
  multiprocess mode: every process writes its own file under PROMETHEUS_MULTIPROC_DIR and
  /metrics sums all of them (metrics_dir.py sets the directory up once per server start).
- Facts the database already records (outbox depth, webhook signature failures), read when
  /metrics is scraped, from index-backed queries: the database is the one copy every worker
  shares, so they cannot drift between processes.

Either way, whichever worker answers a scrape answers the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

# Any process of the deployment may count (a `recovery run-job` too); the directory may not
# exist yet when one starts before the server made it (`recovery migrate` in `make serve`).
if multiproc := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(multiproc).mkdir(parents=True, exist_ok=True)

# Our metrics live in a registry of their own: the default one adds process and GC metrics
# that differ from worker to worker (and are meaningless summed).
LOCAL = CollectorRegistry(auto_describe=True)

# Counted where it happens (multiprocess): a refused post leaves no row to count later.
INTAKE = Counter(
    "recovery_intake",
    "Leads received, by door (webhook, ghl, csv), lead source and result",
    ["via", "source", "result"],
    registry=LOCAL,
)
# Observed when the first message to a new lead leaves (the lead row keeps the two moments,
# but a histogram over every lead ever would be a table scan per scrape).
SPEED_TO_LEAD = Histogram(
    "recovery_speed_to_lead_seconds",
    "From a lead's arrival to the first message that left for it",
    buckets=(5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=LOCAL,
)
# Counted per attempt in the dispatcher: messages.status holds only a message's latest state
# (a retried send that then went out shows as one `sent` row), and grouping millions of rows
# per scrape is what the dashboard's rollup exists to avoid.
SENDS = Counter(
    "recovery_sends",
    "Send attempts by channel, provider and what became of the message "
    "(sent, simulated, retry, failed, unknown)",
    ["channel", "provider", "status"],
    registry=LOCAL,
)
RETRIES = Counter(
    "recovery_send_retries",
    "Transient provider failures put back in the queue with backoff",
    ["channel", "provider"],
    registry=LOCAL,
)
PROVIDER_LATENCY = Histogram(
    "recovery_provider_request_seconds",
    "Time of one call to an outside provider (Twilio, SendGrid, Anthropic, the sandbox)",
    ["provider", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=LOCAL,
)
# Counted as the guard decides: a hold is not a row state that lasts (the row is sent later).
HOLDS = Counter(
    "recovery_compliance_holds",
    "Sends the compliance guard held (later) or blocked (never), by channel and reason",
    ["channel", "action", "reason"],
    registry=LOCAL,
)
# Observed by the runner; the leader that ran the job writes it, any worker reports it.
JOB_DURATION = Histogram(
    "recovery_job_duration_seconds",
    "Duration of one scheduler job window, by job and result (ok, error)",
    ["job", "result"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900),
    registry=LOCAL,
)
AI_CALLS = Counter(
    "recovery_ai_calls",
    "Anthropic Messages API requests by model and result (ok, or why not)",
    ["model", "result"],
    registry=LOCAL,
)
AI_TOKENS = Counter(
    "recovery_ai_tokens",
    "Tokens Anthropic billed, by model and kind (input, output)",
    ["model", "kind"],
    registry=LOCAL,
)

# Lead sources with a label of their own (scoring's known sources); the source is caller-chosen
# text, and every distinct label value is a new time series.
KNOWN_SOURCES = frozenset({"referral", "open_house", "web_form", "sms", "ghl", "portal"})


def source_label(source: str | None) -> str:
    if not source:
        return "unknown"
    return source if source in KNOWN_SOURCES else "other"


@contextmanager
def timed(provider: str, operation: str) -> Iterator[None]:
    """Observe the block's duration as one provider call (errors included)."""
    started = perf_counter()
    try:
        yield
    finally:
        PROVIDER_LATENCY.labels(provider, operation).observe(perf_counter() - started)


# ---------------------------------------------------------------- counted once committed
_PENDING = "metrics_after_commit"


def after_commit(session: Session, record: Callable[[], None]) -> None:
    """Run `record` (an increment) once `session` commits; a rollback (e.g. intake's retry
    after a concurrent insert) drops it, so the metric counts only what happened."""
    session.info.setdefault(_PENDING, []).append(record)


@event.listens_for(Session, "after_commit")
def _record_committed(session: Session) -> None:
    for record in session.info.pop(_PENDING, []):
        record()


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
