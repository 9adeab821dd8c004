"""Settings -> Office -> Lead enrichment (managers): the office's Apollo key, on/off, the
monthly lookup budget, a real test call, and the integration's state."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.enrichment import config, service
from recovery_app.integrations.apollo import Verdict
from recovery_app.states.db import in_session
from recovery_app.states.integration_card import (
    CardRow,
    CardSpec,
    IntegrationCardState,
    TestOutcome,
    card_spec,
    last_error,
    last_ok,
)
from recovery_app.states.session import SessionState


def _row(status: config.ApolloStatus, now: datetime) -> CardRow:
    where = {
        "office": f"This office's Apollo key {status.masked_key}",
        "environment": f"The deployment's key (APOLLO_API_KEY) {status.masked_key}",
    }.get(status.source, "No Apollo API key: paste one below.")
    if status.demo:
        where = "A demo office: no lookups are made. " + where
    if status.paused_until is not None:
        where += f" Apollo asked us to wait until {status.paused_until:%H:%M} UTC (429)."
    return CardRow(
        state=status.state,
        where=where,
        enabled=status.enabled,
        last_ok=last_ok(
            status.last_ok_at, now, done="Last good answer", never="No answer from Apollo yet"
        ),
        last_error=last_error(status.last_error, status.last_error_at, now),
        waiting=f"{status.pending} leads waiting" if status.pending else "",
        usage=f"{status.calls_this_month} of {status.monthly_budget} lookups used this month",
    )


def _show(state: Any, status: config.ApolloStatus, now: datetime) -> None:
    state.card = _row(status, now)
    state.budget = str(status.monthly_budget)


def _changes(form: dict[str, Any]) -> config.ApolloChanges:
    return config.ApolloChanges(
        key=str(form.get("apollo_key") or ""),
        remove_key=form.get("apollo_remove") in ("on", "true", True),
        enabled=form.get("apollo_enabled") in ("on", "true", True),
        monthly_budget=str(form.get("monthly_budget") or ""),
    )


async def _test(viewer: Viewer) -> TestOutcome:
    target = await in_session(lambda s: service.test_target(s, viewer=viewer))
    answer = await service.test_connection(target)
    now = datetime.now(UTC)

    def record(s: Session) -> config.ApolloStatus:
        service.record_test(s, viewer=viewer, target=target, answer=answer, now=now)
        return config.apollo_status(s, viewer=viewer, now=now)

    status = await in_session(record)
    return TestOutcome(answer.verdict == Verdict.MATCH, answer.detail, status)


@card_spec(
    CardSpec(
        name="Enrichment",
        status=lambda s, viewer, now: config.apollo_status(s, viewer=viewer, now=now),
        show=_show,
        changes=_changes,
        save=lambda s, viewer, changes, now: config.save_apollo(
            s, viewer=viewer, changes=changes, now=now
        ),
        test=_test,
    )
)
class OfficeEnrichmentState(IntegrationCardState, SessionState):
    budget: str = ""
