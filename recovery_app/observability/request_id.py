"""The id of the request (or job run) a piece of work belongs to.

An HTTP request gets one at the edge (the caller's `X-Request-ID` when it is sane, else a new
one); the outbox rows the request queues keep it in `messages.request_id`, and the dispatcher
binds it again while it sends them, so one id ties the webhook, its log lines and the send
together. Held in a ContextVar: FastAPI's thread pool and background tasks copy the context,
so the id follows the request into them without being passed around.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
MAX_LENGTH = 64  # messages.request_id and audit_logs.request_id are String(64)
# What we accept from a caller: ids from load balancers and tracing systems (UUIDs, hex,
# "Root=1-5e...": AWS) fit; anything that could forge a log line (newlines, quotes) does not.
ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=/+-]{0,63}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current() -> str | None:
    """The id bound in this context, or None outside any request or job run."""
    return _current.get()


def new() -> str:
    return uuid.uuid4().hex


def accept(offered: str | None) -> str:
    """The caller's id when it is one we can log safely, else a fresh one."""
    offered = (offered or "").strip()
    return offered if ACCEPTED.fullmatch(offered) else new()


@contextmanager
def bound(request_id: str | None) -> Iterator[str | None]:
    """Bind `request_id` for the block (None clears it), restoring the previous one after."""
    token = _current.set(request_id[:MAX_LENGTH] if request_id else None)
    try:
        yield request_id
    finally:
        _current.reset(token)


def adopt(request_id: str | None) -> None:
    """Bind `request_id` for the rest of the enclosing `bound()` block (which restores the
    previous id when it ends): for code that learns the id halfway, e.g. from a loaded row."""
    _current.set(request_id[:MAX_LENGTH] if request_id else None)
