"""Waking this process's dispatcher from any thread (a commit in a request, a job, a page)."""

import asyncio
import threading

_loop: asyncio.AbstractEventLoop | None = None
_event: asyncio.Event | None = None
_lock = threading.Lock()


def attach(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    global _loop, _event
    with _lock:
        _loop, _event = loop, event


def detach() -> None:
    global _loop, _event
    with _lock:
        _loop, _event = None, None


def notify() -> None:
    """Wake the dispatcher if one runs in this process; a no-op otherwise (CLI, tests)."""
    with _lock:
        loop, event = _loop, _event
    if loop is None or event is None or loop.is_closed():
        return
    loop.call_soon_threadsafe(event.set)
