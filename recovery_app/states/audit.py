"""The audit log (managers): who did what, when, with before/after; filter and page."""

from datetime import UTC, datetime, timedelta
from typing import TypedDict

import reflex as rx

from recovery_app.domain.accounts import team
from recovery_app.domain.audit import service as audit
from recovery_app.domain.ids import is_id
from recovery_app.states.db import in_session
from recovery_app.states.session import Choice, SessionState

ALL = "all"
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class AuditRow(TypedDict):
    when: str
    actor: str
    action: str
    entity: str
    change: str


def _change(before: dict, after: dict) -> str:
    keys = sorted(set(before) | set(after))
    parts = []
    for key in keys:
        if key in before and key in after:
            parts.append(f"{key}: {before[key]} -> {after[key]}")
        elif key in after:
            parts.append(f"{key}: {after[key]}")
        else:
            parts.append(f"{key}: {before[key]} (removed)")
    return "; ".join(parts)[:300]


class AuditState(SessionState):
    rows: list[AuditRow] = []
    action_choices: list[Choice] = []
    actor_choices: list[Choice] = []
    action: str = ALL
    actor: str = ALL
    period: str = "7d"
    page: int = 1
    page_count: int = 1
    total: int = 0

    async def _fetch(self) -> None:
        viewer = await self._manager_viewer("the audit log")
        since = datetime.now(UTC) - PERIODS[self.period] if self.period in PERIODS else None
        query = audit.AuditQuery(
            action=None if self.action == ALL else self.action,
            actor_user_id=int(self.actor) if is_id(self.actor) else None,
            since=since,
            page=self.page,
        )
        result, members = await in_session(
            lambda s: (
                audit.list_entries(s, viewer=viewer, query=query),
                team.list_team(s, viewer=viewer),
            )
        )
        self.rows = [
            AuditRow(
                when=e.created_at.strftime("%b %-d, %H:%M:%S"),
                actor=e.actor,
                action=e.action,
                entity=f"{e.entity_type} {e.entity_id or ''}".strip(),
                change=_change(e.before, e.after),
            )
            for e in result.items
        ]
        self.total, self.page, self.page_count = result.total, result.page, result.page_count
        self.action_choices = [Choice(value=a, label=a) for a in result.actions]
        self.actor_choices = [
            Choice(value=str(m.id), label=m.full_name or m.email) for m in members
        ]

    @rx.event
    async def load(self):
        await self._fetch()

    @rx.event
    async def set_action(self, value: str):
        self.action, self.page = value, 1
        await self._fetch()

    @rx.event
    async def set_actor(self, value: str):
        self.actor, self.page = value, 1
        await self._fetch()

    @rx.event
    async def set_period(self, value: str):
        self.period, self.page = (value if value in (*PERIODS, ALL) else "7d"), 1
        await self._fetch()

    @rx.event
    async def go_to_page(self, page: int):
        self.page = max(1, min(page, self.page_count))
        await self._fetch()
