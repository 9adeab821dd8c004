"""How page states reach the domain: one transaction in a worker thread, never on the event loop."""

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from recovery_app.db import session_scope

T = TypeVar("T")


async def in_session(work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a thread inside `session_scope()` and return its result."""

    def run() -> T:
        with session_scope() as session:
            return work(session)

    return await asyncio.to_thread(run)
