"""API keys (managers): create (the key is shown once), list by prefix with last use, revoke."""

from datetime import UTC, datetime
from typing import TypedDict

import reflex as rx

from recovery_app.domain.accounts import api_keys, team
from recovery_app.domain.ids import is_id
from recovery_app.models import Role
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState


class KeyRow(TypedDict):
    id: str
    name: str
    prefix: str
    role: str
    agent: str
    created: str
    last_used: str
    revoked: bool


class KeyForm(TypedDict, total=False):
    name: str
    role: str
    user_id: str


class ApiKeysState(SessionState):
    keys: list[KeyRow] = []
    agent_choices: list[Choice] = []
    new_key: str = ""

    async def _reload(self) -> None:
        viewer = await self._manager_viewer("API keys")
        keys, members = await in_session(
            lambda s: (api_keys.list_api_keys(s, viewer=viewer), team.list_team(s, viewer=viewer))
        )
        now = datetime.now(UTC)
        self.keys = [
            KeyRow(
                id=str(k.id),
                name=k.name or "(unnamed)",
                prefix=k.prefix,
                role=k.role,
                agent=k.user_name or "",
                created=k.created_at.strftime("%b %-d, %Y"),
                last_used=relative_time(k.last_used_at, now) or "never",
                revoked=k.revoked_at is not None,
            )
            for k in keys
        ]
        self.agent_choices = [
            Choice(value=str(m.id), label=m.full_name)
            for m in members
            if m.role == Role.AGENT and m.active
        ]

    @rx.event
    async def load(self):
        await self._reload()

    @rx.event
    async def create(self, form: KeyForm):
        viewer = await self._viewer()
        role = Role.AGENT if form.get("role") == Role.AGENT else Role.MANAGER
        user_id = int(form["user_id"]) if is_id(form.get("user_id", "")) else None
        _, key = await in_session(
            lambda s: api_keys.create_api_key(
                s, viewer=viewer, role=role, name=form.get("name", ""), user_id=user_id
            )
        )
        await self._reload()
        self.new_key = key

    @rx.event
    def forget_key(self):
        """Close the one-time key dialog; the key is not kept anywhere."""
        self.new_key = ""

    @rx.event
    async def revoke(self, key_id: str):
        viewer, now = await self._viewer(), datetime.now(UTC)
        await in_session(
            lambda s: api_keys.revoke_api_key(s, viewer=viewer, key_id=int(key_id), now=now)
        )
        await self._reload()
        return notice.success("Key revoked; requests with it now get 401.")
