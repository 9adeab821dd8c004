"""The live dashboard: hero figures, the recovery funnel, per-agent numbers (managers) and the
activity feed, kept current by a timer in the page.

The browser drives the updates: an invisible `rx.moment` ticks every `TICK_MS` while the page
is open, so nothing runs on the server for a client that has left. A tick reads the office's
shared snapshot (`metrics.dashboard.office_snapshot`: computed once per second for every open
dashboard of the office) and does not resolve the session cookie again: that happens on load
and at most every `VIEWER_RECHECK_SECONDS` after (`_recent_viewer`), so a hundred open
dashboards are not a hundred session lookups a second.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import TypedDict

import plotly.graph_objects as go
import reflex as rx

from recovery_app import routes
from recovery_app.components.figures import FigureCard
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.conversations import unmatched
from recovery_app.domain.metrics import dashboard
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.session import SessionState

TICK_MS = 1500


Card = FigureCard


class AgentRow(TypedDict):
    name: str
    new_today: str
    speed: str
    silent_now: str
    recovered_week: str
    replies_waiting: str


class FeedRow(TypedDict):
    id: str
    text: str
    when: str
    href: str
    kind: str


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def cards_of(figures: dashboard.Figures) -> list[Card]:
    rate = figures.recovery_rate
    return [
        Card(id="new-today", label="New leads today", value=str(figures.new_today), hint=""),
        Card(
            id="speed-p50",
            label="Speed to lead (median)",
            value=_duration(figures.speed_p50_seconds),
            hint=f"p90 {_duration(figures.speed_p90_seconds)}, {figures.responded_today} answered",
        ),
        Card(id="silent-now", label="Silent now", value=str(figures.silent_now), hint=""),
        Card(
            id="recovered-week",
            label="Recovered this week",
            value=str(figures.recovered_week),
            hint="",
        ),
        Card(
            id="recovery-rate",
            label="Recovery rate (30 d)",
            value=f"{rate:.0%}" if rate is not None else "-",
            hint=f"{figures.recovered_30d} of {figures.went_silent_30d} that went silent",
        ),
        Card(
            id="replies-waiting",
            label="Replies waiting",
            value=str(figures.replies_waiting),
            hint="answered after our last message",
        ),
        Card(
            id="held",
            label="Held by compliance",
            value=str(figures.held),
            hint="quiet hours, consent, caps",
        ),
        Card(id="failed", label="Failed sends today", value=str(figures.failed_today), hint=""),
    ]


def funnel_figure(stages: list[tuple[str, int]]) -> go.Figure:
    figure = go.Figure(
        go.Funnel(
            y=[name for name, _ in stages],
            x=[number for _, number in stages],
            textinfo="value+percent initial",
            marker={"color": "#3e63dd"},
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=300,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


class DashboardState(SessionState):
    cards: list[Card] = []
    agent_rows: list[AgentRow] = []
    feed: list[FeedRow] = []
    funnel: go.Figure = go.Figure()
    updated: str = ""
    # Admins: inbound texts no office could be found for (conversations/unmatched.py).
    unmatched_texts: int = 0
    _unmatched_checked_at: float = 0.0
    _loaded: bool = False
    _stages: list[tuple[str, int]] = []

    @rx.event
    async def load(self):
        self._loaded, self._stages, self._unmatched_checked_at = True, [], 0.0
        await self._refresh(await self._viewer())

    @rx.event
    async def tick(self):
        if not self._loaded:
            return
        await self._refresh(await self._recent_viewer())

    async def _refresh(self, viewer: Viewer) -> None:
        snapshot = await asyncio.to_thread(dashboard.office_snapshot, viewer.tenant_id)
        now = datetime.now(UTC)
        view = dashboard.view_for(snapshot, viewer)
        self.updated = f"Updated {relative_time(snapshot.computed_at, now)}"
        # Assign only what changed: every assignment is sent to the browser.
        cards = cards_of(view.figures)
        if cards != self.cards:
            self.cards = cards
        if view.funnel != self._stages:
            self._stages = view.funnel
            self.funnel = funnel_figure(view.funnel)
        agents = [
            AgentRow(
                name=agent.name,
                new_today=str(agent.figures.new_today),
                speed=_duration(agent.figures.speed_p50_seconds),
                silent_now=str(agent.figures.silent_now),
                recovered_week=str(agent.figures.recovered_week),
                replies_waiting=str(agent.figures.replies_waiting),
            )
            for agent in view.agents
        ]
        if agents != self.agent_rows:
            self.agent_rows = agents
        feed = [
            FeedRow(
                id=str(item.activity_id),
                text=item.text,
                when=relative_time(item.at, now),
                href=routes.lead_detail(item.lead_id),
                kind=item.kind,
            )
            for item in view.feed
        ]
        if feed != self.feed:
            self.feed = feed
        await self._count_unmatched(viewer)

    async def _count_unmatched(self, viewer: Viewer) -> None:
        """A count across every office, so only admins pay for it, every 30 s at most."""
        if not viewer.is_admin or time.monotonic() - self._unmatched_checked_at < 30:
            return
        self._unmatched_checked_at = time.monotonic()
        count = await in_session(lambda s: unmatched.open_count(s, viewer=viewer))
        if count != self.unmatched_texts:
            self.unmatched_texts = count
