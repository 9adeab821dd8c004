"""Every scheduled job: its name (for `recovery run-job NAME`), its period and what it does.
A job takes a session and the moment of its window and returns counts for the JobRun row."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.demo.sandbox import purge_expired_sandboxes
from recovery_app.models import SignInAttempt
from recovery_app.settings import get_settings

SIGN_IN_ATTEMPTS_KEPT = timedelta(days=30)
# detect_silent_leads runs every 5 min; its passes stop well before the next window opens.
SILENCE_BUDGET_SECONDS = 180


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: timedelta
    run: Callable[[Session, datetime], dict[str, Any]]
    description: str


def _purge_demo_sandboxes(session: Session, now: datetime) -> dict[str, int]:
    return {"sandboxes_deleted": purge_expired_sandboxes(session, now=now)}


def _process_webhook_inbox(session: Session, now: datetime) -> dict[str, int]:
    from recovery_app.messaging import inbox
    from recovery_app.messaging.events import HANDLERS

    ids = inbox.pending(session, now=now)
    # Each event is handled in a transaction of its own, so one bad event cannot block the rest.
    session.commit()
    for event_id in ids:
        inbox.process(event_id, HANDLERS)
    return {"events_retried": len(ids)}


def _rescore_leads(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.scoring.jobs import rescore_leads

    return rescore_leads(session, now)


def _calibrate_scoring(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.scoring.jobs import calibrate_scoring

    return calibrate_scoring(session, now)


def _expire_lead_offers(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.routing.service import expire_offers

    return {"leads_routed": expire_offers(session, now=now)}


def _escalate_hot_leads(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.routing.service import escalate_untouched_hot_leads

    return {"leads_escalated": escalate_untouched_hot_leads(session, now=now)}


def _nurture_sweep(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.campaigns.sweep import run_sweep

    return run_sweep(session, now)


def _detect_silent_leads(session: Session, now: datetime) -> dict[str, Any]:
    """Capped passes, each committed, until nothing is left over or the window is nearly
    spent (the next run goes on from there): a backlog never becomes one long transaction."""
    from recovery_app.domain.campaigns.silence import detect_silent_leads

    started = time.monotonic()
    totals: dict[str, int] = {"marked_silent": 0, "unsilenced": 0, "passes": 0}
    while True:
        result = detect_silent_leads(session, now)
        session.commit()
        totals["marked_silent"] += result["marked_silent"]
        totals["unsilenced"] += result["unsilenced"]
        totals["passes"] += 1
        if not result["backlog"] or time.monotonic() - started > SILENCE_BUDGET_SECONDS:
            return {**totals, "tenants": result["tenants"], "backlog": result["backlog"]}


def _no_open_triggers(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.campaigns.triggers import evaluate_no_open

    return evaluate_no_open(session, now)


def _rollup_daily_metrics(session: Session, now: datetime) -> dict[str, Any]:
    from recovery_app.domain.metrics.rollup import rollup_daily_metrics

    return rollup_daily_metrics(session, now)


def _dispatch_outbox(session: Session, now: datetime) -> dict[str, Any]:
    """Safety net: every worker's dispatcher wakes on commit and polls, but with SCHEDULER=off
    or no web worker running (the standalone scheduler) the outbox still drains."""
    from recovery_app.messaging.dispatcher import Dispatcher

    session.commit()
    dispatcher = Dispatcher("scheduler-safety-net")
    try:
        stats = dispatcher.drain(max_passes=50)
    finally:
        dispatcher.close()
    return {key: value for key, value in stats.__dict__.items() if isinstance(value, int)}


def _slack_alerts(session: Session, now: datetime) -> dict[str, Any]:
    """Queue what the scan finds (replies waiting, failing campaigns, outages), then post the
    queue: claimed rows are committed as `sending` before any call, the calls happen outside
    any transaction (async, destinations in parallel), then the answers are recorded."""
    from recovery_app.domain.alerts import delivery, service
    from recovery_app.integrations.http import run_blocking

    found = service.scan(session, now=now)
    session.commit()
    claimed = delivery.claim(session, now=now)
    session.commit()
    if not claimed.posts:
        return found | claimed.counts
    run_blocking(lambda: delivery.post_all(claimed.posts))
    return found | claimed.counts | delivery.record(session, claimed.posts, now=now)


def _enrich_leads(session: Session, now: datetime) -> dict[str, Any]:
    """Finish the Apollo lookups intake queued (calls outside any transaction) and rescore."""
    from recovery_app.domain.enrichment.service import run_job

    return run_job(session, now)


def _ghl_sync(session: Session, now: datetime) -> dict[str, Any]:
    """Write back to GoHighLevel what the queue holds (calls outside any transaction)."""
    from recovery_app.domain.crm.sync import run_job

    return run_job(session, now)


def _ghl_import(session: Session, now: datetime) -> dict[str, Any]:
    """Go on with each running GoHighLevel contact import from its cursor."""
    from recovery_app.domain.crm.importer import run_job

    return run_job(session, now)


def _prune_sign_in_attempts(session: Session, now: datetime) -> dict[str, int]:
    result = session.execute(
        delete(SignInAttempt).where(col(SignInAttempt.created_at) < now - SIGN_IN_ATTEMPTS_KEPT)
    )
    return {"attempts_deleted": result.rowcount}  # type: ignore[attr-defined]


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "nurture_sweep",
            timedelta(seconds=get_settings().sweep_interval_seconds),
            _nurture_sweep,
            "run every due campaign step once; launch scheduled and always-on campaigns",
        ),
        Job(
            "detect_silent_leads",
            timedelta(minutes=5),
            _detect_silent_leads,
            "mark leads silent that have not answered within the office's threshold",
        ),
        Job(
            "no_open_triggers",
            timedelta(minutes=15),
            _no_open_triggers,
            'fire "no open on N emails" trigger rules for emails that aged unopened',
        ),
        Job(
            "rollup_daily_metrics",
            timedelta(hours=1),
            _rollup_daily_metrics,
            "roll today's and yesterday's numbers up per office and agent for the dashboards",
        ),
        Job(
            "dispatch_outbox",
            timedelta(minutes=1),
            _dispatch_outbox,
            "send what the outbox holds (safety net for the per-worker dispatchers)",
        ),
        Job(
            "purge_demo_sandboxes",
            timedelta(minutes=15),
            _purge_demo_sandboxes,
            "delete demo sandboxes older than 24 h",
        ),
        Job(
            "process_webhook_inbox",
            timedelta(minutes=1),
            _process_webhook_inbox,
            "retry webhook events that failed or could not be matched yet",
        ),
        Job(
            "rescore_leads",
            timedelta(hours=1),
            _rescore_leads,
            "rescore open leads (silence grows) and refresh each office's median budget",
        ),
        Job(
            "calibrate_scoring",
            timedelta(days=7),
            _calibrate_scoring,
            "fit scoring weights to each office's outcomes; keep them only if AUC improves",
        ),
        Job(
            "expire_lead_offers",
            timedelta(minutes=1),
            _expire_lead_offers,
            "route first-to-claim leads nobody claimed in time",
        ),
        Job(
            "escalate_hot_leads",
            timedelta(minutes=15),
            _escalate_hot_leads,
            "alert managers about hot leads no person has touched in time",
        ),
        Job(
            "slack_alerts",
            timedelta(minutes=1),
            _slack_alerts,
            "alert Slack: replies waiting, failing campaigns, outages; post the alert queue",
        ),
        Job(
            "enrich_leads",
            timedelta(minutes=1),
            _enrich_leads,
            "look up queued leads in Apollo (job title, company, time zone) and rescore them",
        ),
        Job(
            "ghl_sync",
            timedelta(minutes=1),
            _ghl_sync,
            "write status tags, score fields, notes and won opportunities back to GoHighLevel",
        ),
        Job(
            "ghl_import",
            timedelta(minutes=1),
            _ghl_import,
            "import each office's existing GoHighLevel contacts, page by page, when asked",
        ),
        Job(
            "prune_sign_in_attempts",
            timedelta(hours=6),
            _prune_sign_in_attempts,
            "forget sign-in attempts older than 30 days",
        ),
    )
}
