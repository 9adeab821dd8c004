"""Request-scoped helpers: who is calling (bearer API key) and from where."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from recovery_app.db import session_scope
from recovery_app.domain.accounts import api_keys
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.errors import Unauthenticated


def api_viewer(authorization: Annotated[str | None, Header()] = None) -> Viewer:
    """The caller behind `Authorization: Bearer <key>`; 401 for anything else."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("Send an API key: Authorization: Bearer rk_...")
    with session_scope() as session:
        return api_keys.authenticate(session, key=key.strip(), now=datetime.now(UTC))


ApiViewer = Annotated[Viewer, Depends(api_viewer)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
