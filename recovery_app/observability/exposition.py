"""What GET /api/v1/metrics answers: the event metrics summed over every worker process, plus
the database's facts read at scrape time (see metrics.py for which is which and why)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from recovery_app.domain.accounts.integrations import signature_failures
from recovery_app.messaging.repository import outbox_depth
from recovery_app.observability.metrics import LOCAL, multiprocess_dir

logger = logging.getLogger(__name__)
# db.session_scope: one short transaction per scrape.
Sessions = Callable[[], AbstractContextManager[Session]]


class DatabaseCollector(Collector):
    """Gauges and counters the database keeps: one short read per scrape."""

    def __init__(self, sessions: Sessions, clock: Callable[[], datetime]):
        self.sessions = sessions
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "recovery_metrics_database_up",
            "1 when this scrape could read the database metrics below, else 0",
        )
        try:
            now = self.clock()
            with self.sessions() as session:
                depth = outbox_depth(session, now=now)
                failures = signature_failures(session)
        except SQLAlchemyError:
            logger.warning("metrics: the database is unreachable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        outbox = GaugeMetricFamily(
            "recovery_outbox_messages",
            "Outbox rows by state: queued (all waiting), due (queued and due now), sending",
            labels=["state"],
        )
        for state, value in (
            ("queued", depth.queued),
            ("due", depth.due),
            ("sending", depth.sending),
        ):
            outbox.add_metric([state], value)
        yield outbox
        oldest = GaugeMetricFamily(
            "recovery_outbox_oldest_due_age_seconds",
            "How long the longest-waiting due message has been due (0 when none is)",
        )
        age = (now - depth.oldest_due_at).total_seconds() if depth.oldest_due_at else 0.0
        oldest.add_metric([], max(0.0, age))
        yield oldest
        refused = CounterMetricFamily(
            "recovery_webhook_signature_failures",
            "Webhook calls refused for a missing or bad signature, by provider",
            labels=["provider"],
        )
        for provider, total in sorted(failures.items()):
            refused.add_metric([provider], total)
        yield refused


class _Local(Collector):
    """This process's own metrics, when there is no multiprocess directory (tests, CLI)."""

    def collect(self) -> Iterator[Metric]:
        yield from LOCAL.collect()


def render(sessions: Sessions) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_Local())
    registry.register(DatabaseCollector(sessions, lambda: datetime.now(UTC)))
    return generate_latest(registry), CONTENT_TYPE_LATEST
