"""Run Reflex event handlers in tests as a given browser session.

A state is built the way the framework builds it, with the router data a websocket connection
would carry (its cookie header and page path), and handlers are called directly: the same code
path a browser event takes, minus the transport.
"""

import inspect
from typing import Any

import reflex as rx
from reflex.istate.data import RouterData

from recovery_app.domain.accounts.auth import SESSION_COOKIE


def state_as(
    state_cls: type[rx.State], token: str | None, path: str = "/", query: dict | None = None
) -> Any:
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(state_cls.get_full_name().split(".")[1:])
    cookie = f"{SESSION_COOKIE}={token}" if token else ""
    router = RouterData.from_router_data(
        {"headers": {"cookie": cookie}, "pathname": path, "asPath": path, "query": query or {}}
    )
    root.router = router
    state.router = router
    return state


async def call(handler: Any, state: Any, *args: Any) -> Any:
    """Run an event handler (sync, async or async generator) and return what it returned."""
    result = handler.fn(state, *args)
    if inspect.isasyncgen(result):
        return [item async for item in result]
    if inspect.isawaitable(result):
        return await result
    return result
