"""Toasts from the server that work under the production CSP.

Reflex sends a toast (or any `rx.call_script`) returned by an event handler to the browser as
code, which the browser runs with `eval`; the production CSP allows no `eval`, so every such
toast threw "EvalError: ... 'unsafe-eval' is not an allowed source" and never showed - the
refusals "No such lead." and "Only managers ..." included. Instead a handler returns
`notice.error(...)` (same shape as `rx.toast.error(...)`): an event that adds the message to
`NoticeState.notices`, and `components.notices.NoticeToaster`, compiled into the app root,
shows each new one with the same toaster. Nothing is evaluated at run time.
"""

import uuid
from typing import Literal, TypedDict

import reflex as rx
from reflex.event import EventSpec

Kind = Literal["success", "error", "warning", "info"]
# Enough for a handler that reports two things at once; older ones are gone from the page.
KEEP = 3


class Notice(TypedDict):
    id: str  # new for every notice: the browser shows each id once (sessionStorage)
    kind: str
    message: str
    key: str  # toasts with the same key replace each other instead of stacking


class NoticeState(rx.State):
    notices: list[Notice] = []

    @rx.event
    def show(self, kind: str, message: str, key: str = ""):
        if kind not in ("success", "error", "warning", "info"):
            kind = "info"
        notice = Notice(id=uuid.uuid4().hex, kind=kind, message=str(message), key=key)
        self.notices = [*self.notices[-(KEEP - 1) :], notice]


def _shows(kind: Kind):
    def show(message: str, *, key: str = "") -> EventSpec:
        return NoticeState.show(kind, message, key)

    show.__name__ = kind
    return staticmethod(show)


class notice:  # lower case: read as `notice.error(...)`, like `rx.toast.error(...)`
    """Events that show a toast; return or yield them from an event handler. `key`: toasts
    with the same key replace each other."""

    success = _shows("success")
    error = _shows("error")
    warning = _shows("warning")
    info = _shows("info")
