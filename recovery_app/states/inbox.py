"""The conversations inbox page: threads waiting for an answer first, then the rest; agents
see their own, managers everyone's or one agent's. Refreshes while open, like the dashboard:
the page's timer asks, nothing runs on the server for a closed page."""

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx

from recovery_app import routes
from recovery_app.domain.leads import inbox
from recovery_app.domain.leads import service as leads
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.session import Choice, SessionState

ALL = "all"
REFRESH_MS = 5000


class ThreadRow(TypedDict):
    href: str
    name: str
    agent: str
    waiting: bool
    when: str
    preview: str
    direction: str
    channel: str


class InboxState(SessionState):
    rows: list[ThreadRow] = []
    total: int = 0
    page: int = 0
    agent_filter: str = ALL
    only_waiting: bool = False
    agent_choices: list[Choice] = []

    async def _reload(self, *, recheck: bool = True) -> None:
        # The timer's refreshes re-check the session every 30 s, not every 5 s.
        viewer = await (self._viewer() if recheck else self._recent_viewer())
        now = datetime.now(UTC)
        agent = None if self.agent_filter == ALL else self.agent_filter

        def read(s: Any) -> tuple[list[inbox.Thread], int, list[Choice]]:
            found, total = inbox.threads(
                s, viewer=viewer, agent=agent, only_waiting=self.only_waiting, page=self.page
            )
            people = (
                [
                    Choice(value=str(a.id), label=a.name)
                    for a in leads.lead_filter_options(s, viewer=viewer).agents
                ]
                if viewer.is_manager
                else []
            )
            return found, total, people

        found, self.total, self.agent_choices = await in_session(read)
        self.rows = [
            ThreadRow(
                href=routes.lead_detail(t.lead_id),
                name=t.name,
                agent=t.agent or "Unassigned",
                waiting=t.waiting,
                when=relative_time(t.last_at, now) if t.last_at else "",
                preview=t.last_body,
                direction="They wrote" if t.last_direction == "inbound" else "We wrote",
                channel=t.last_channel,
            )
            for t in found
        ]

    @rx.event
    async def load(self):
        self.page = 0
        await self._reload()

    @rx.event
    async def refresh(self):
        await self._reload(recheck=False)

    @rx.event
    async def set_agent_filter(self, value: str):
        self.agent_filter, self.page = value, 0
        await self._reload()

    @rx.event
    async def set_only_waiting(self, value: bool):
        self.only_waiting, self.page = bool(value), 0
        await self._reload()

    @rx.event
    async def go_to_page(self, page: int):
        last = max(0, (self.total - 1) // inbox.PAGE)
        self.page = max(0, min(int(page), last))
        await self._reload()
