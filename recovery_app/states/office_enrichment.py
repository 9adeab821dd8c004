"""Settings -> Office -> Lead enrichment (managers): the office's Apollo key, on/off, the
monthly lookup budget, a real test call, and the integration's state."""

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app.domain.enrichment import config, service
from recovery_app.errors import ValidationFailed
from recovery_app.integrations.apollo import Verdict
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.session import SessionState


class EnrichmentRow(TypedDict):
    state: str  # "off" | "ok" | "needs_attention"
    where: str  # which key, masked
    enabled: bool
    budget: str
    usage: str
    last_ok: str
    last_error: str
    pending: int


def _row(status: config.ApolloStatus, now: datetime) -> EnrichmentRow:
    where = {
        "office": f"This office's Apollo key {status.masked_key}",
        "environment": f"The deployment's key (APOLLO_API_KEY) {status.masked_key}",
    }.get(status.source, "No Apollo API key: paste one below.")
    if status.demo:
        where = "A demo office: no lookups are made. " + where
    if status.paused_until is not None:
        where += f" Apollo asked us to wait until {status.paused_until:%H:%M} UTC (429)."
    return EnrichmentRow(
        state=status.state,
        where=where,
        enabled=status.enabled,
        budget=str(status.monthly_budget),
        usage=f"{status.calls_this_month} of {status.monthly_budget} lookups used this month",
        last_ok=f"Last good answer {relative_time(status.last_ok_at, now)}"
        if status.last_ok_at
        else "No answer from Apollo yet",
        last_error=f"{status.last_error} ({relative_time(status.last_error_at, now)})"
        if status.last_error and status.last_error_at
        else "",
        pending=status.pending,
    )


def _changes(form: dict[str, Any]) -> config.ApolloChanges:
    return config.ApolloChanges(
        key=str(form.get("apollo_key") or ""),
        remove_key=form.get("apollo_remove") in ("on", "true", True),
        enabled=form.get("apollo_enabled") in ("on", "true", True),
        monthly_budget=str(form.get("monthly_budget") or ""),
    )


class OfficeEnrichmentState(SessionState):
    enrichment: EnrichmentRow = EnrichmentRow(
        state="off",
        where="",
        enabled=False,
        budget="",
        usage="",
        last_ok="",
        last_error="",
        pending=0,
    )
    enrichment_problems: dict[str, str] = {}
    enrichment_saving: bool = False
    enrichment_testing: bool = False
    # Apollo's answer to the last test call, word for word.
    enrichment_test_answer: str = ""
    enrichment_test_ok: bool = False
    enrichment_form_key: int = 0

    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("the office settings")
        now = datetime.now(UTC)
        status = await in_session(lambda s: config.apollo_status(s, viewer=viewer, now=now))
        self.enrichment = _row(status, now)
        self.enrichment_problems, self.enrichment_test_answer = {}, ""
        self.enrichment_form_key += 1

    @rx.event
    async def save_enrichment(self, form: dict):
        viewer = await self._manager_viewer("the office settings")
        now = datetime.now(UTC)
        changes = _changes(form)
        self.enrichment_saving = True
        yield
        try:
            status = await in_session(
                lambda s: config.save_apollo(s, viewer=viewer, changes=changes, now=now)
            )
        except ValidationFailed as exc:
            self.enrichment_problems = dict(exc.fields)
            yield rx.toast.error(exc.message)
            return
        finally:
            self.enrichment_saving = False
        self.enrichment = _row(status, now)
        self.enrichment_problems = {}
        self.enrichment_form_key += 1  # the key field empties again (a key is never shown)
        yield rx.toast.success("Enrichment settings saved.")

    @rx.event
    async def test_enrichment(self):
        """A real call to Apollo with the office's key; shows its answer or the exact error."""
        viewer = await self._manager_viewer("the office settings")
        self.enrichment_testing = True
        yield
        try:
            target = await in_session(lambda s: service.test_target(s, viewer=viewer))
            answer = await service.test_connection(target)
            now = datetime.now(UTC)

            def record(s: Session) -> config.ApolloStatus:
                service.record_test(s, viewer=viewer, target=target, answer=answer, now=now)
                return config.apollo_status(s, viewer=viewer, now=now)

            status = await in_session(record)
        finally:
            self.enrichment_testing = False
        self.enrichment = _row(status, now)
        self.enrichment_test_ok = answer.verdict == Verdict.MATCH
        self.enrichment_test_answer = answer.detail
