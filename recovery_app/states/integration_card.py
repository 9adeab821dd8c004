"""What every outbound integration's card in Settings -> Office has in common (Slack, Apollo,
GoHighLevel): its state (off / ok / needs attention), where it points (the credential, masked),
the last success and the last error, a form saved through the domain, and "Test connection",
a real call whose answer (or exact error) is shown word for word. Each integration's State
mixes this in and names its domain functions in a `CardSpec` (`@card_spec(...)`)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.errors import ValidationFailed
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice


class CardRow(TypedDict):
    state: str  # "off" | "ok" | "needs_attention"
    where: str  # which credential, masked, or what to do
    enabled: bool
    last_ok: str
    last_error: str
    waiting: str  # "" or e.g. "3 waiting to post"
    usage: str  # "" or a line about quota or budget


EMPTY_CARD = CardRow(
    state="off", where="", enabled=False, last_ok="", last_error="", waiting="", usage=""
)


def last_error(text: str | None, at: datetime | None, now: datetime) -> str:
    return f"{text} ({relative_time(at, now)})" if text and at else ""


def last_ok(at: datetime | None, now: datetime, *, done: str, never: str) -> str:
    return f"{done} {relative_time(at, now)}" if at else never


@dataclass(frozen=True, slots=True)
class TestOutcome:
    ok: bool
    detail: str  # the provider's answer or the exact error
    status: Any  # the integration's status after the test (shown again)


@dataclass(frozen=True, slots=True)
class CardSpec:
    """One integration's domain functions, as its card calls them."""

    name: str  # for the toasts: "Slack", "Enrichment", "GoHighLevel"
    status: Callable[[Session, Viewer, datetime], Any]
    # Puts a status on the card (and on the integration's own vars: Slack's events ...).
    show: Callable[[Any, Any, datetime], None]
    changes: Callable[[dict[str, Any]], Any]
    save: Callable[[Session, Viewer, Any, datetime], Any]
    test: Callable[[Viewer], Awaitable[TestOutcome]]


SPECS: dict[str, CardSpec] = {}


def card_spec(spec: CardSpec) -> Callable[[type], type]:
    """Name the domain functions of an integration's State (kept off the State itself: a
    State's attributes are its vars, sent to the browser)."""

    def register(cls: type) -> type:
        SPECS[cls.__name__] = spec
        return cls

    return register


class IntegrationCardState(rx.State, mixin=True):
    card: CardRow = EMPTY_CARD
    problems: dict[str, str] = {}
    saving: bool = False
    testing: bool = False
    test_answer: str = ""
    test_ok: bool = False
    # Bumped on every load and save so the form (uncontrolled inputs) re-reads its defaults and
    # the secret field empties again (a secret is never shown back).
    form_key: int = 0

    def _spec(self) -> CardSpec:
        return SPECS[type(self).__name__]

    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("the office settings")  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        status = await in_session(lambda s: self._spec().status(s, viewer, now))
        self._spec().show(self, status, now)
        self.problems, self.test_answer = {}, ""
        self.form_key += 1

    @rx.event
    async def save(self, form: dict):
        viewer = await self._manager_viewer("the office settings")  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        changes = self._spec().changes(form)
        self.saving = True
        yield
        try:
            status = await in_session(lambda s: self._spec().save(s, viewer, changes, now))
        except ValidationFailed as exc:
            self.problems = dict(exc.fields)
            yield notice.error(exc.message)
            return
        finally:
            self.saving = False
        self._spec().show(self, status, now)
        self.problems = {}
        self.form_key += 1
        yield notice.success(f"{self._spec().name} settings saved.")

    @rx.event
    async def test(self):
        """A real call to the provider with the office's settings; its answer, word for word."""
        viewer = await self._manager_viewer("the office settings")  # type: ignore[attr-defined]
        self.testing = True
        yield
        try:
            outcome = await self._spec().test(viewer)
        finally:
            self.testing = False
        self._spec().show(self, outcome.status, datetime.now(UTC))
        self.test_ok, self.test_answer = outcome.ok, outcome.detail
