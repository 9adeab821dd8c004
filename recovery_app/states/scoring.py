"""The Scoring page: the lead heatmap (click a cell for those leads), when leads answer and the
send window that suggests, what each factor adds, calibration, and the call list."""

from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import urlencode

import plotly.graph_objects as go
import reflex as rx
from sqlalchemy.orm import Session

from recovery_app import routes
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns import silent_leads
from recovery_app.domain.leads import service as leads
from recovery_app.domain.routing import service as routing
from recovery_app.domain.scoring import insights
from recovery_app.models import Role
from recovery_app.states.db import in_session
from recovery_app.states.formatting import display_phone, display_source, relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

AXIS_LABELS = {
    "source": "Source",
    "temperature": "Temperature",
    "days_silent": "Days silent",
    "agent": "Agent",
}
CHANNELS = {"all": "All messages", "sms": "Texts", "email": "Emails"}


class HeatRow(TypedDict):
    band: str
    cells: list[dict[str, Any]]  # {"count": int, "href": str, "label": str}


class FactorRow(TypedDict):
    factor: str
    weight: str
    leads: int
    average: str


class CallRow(TypedDict):
    id: int
    href: str
    name: str
    phone: str
    score: int
    temperature: str
    agent: str
    why: str
    mine: bool
    claimable: bool


def heat_figure(heat: insights.Heatmap, labels: list[str]) -> go.Figure:
    z = [[heat.count(x, band) for x in heat.columns] for band in heat.bands]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=heat.bands,
            text=z,
            texttemplate="%{text}",
            colorscale="Oranges",
            hovertemplate="%{x}, score %{y}: %{z} leads<extra></extra>",
            showscale=False,
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=320,
        yaxis={"title": "Score"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def response_figure(grid: insights.ResponseGrid) -> go.Figure:
    z = [
        [None if (r := grid.rate(day, hour)) is None else round(100 * r, 1) for hour in range(24)]
        for day in range(7)
    ]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d}" for h in range(24)],
            y=list(insights.WEEKDAYS),
            colorscale="Greens",
            hovertemplate="%{y} %{x}:00 - reply rate %{z}%<extra></extra>",
            colorbar={"title": "%"},
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=280,
        yaxis={"autorange": "reversed"},
        xaxis={"title": "Local hour the message went out"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def leads_link(filters: dict[str, str]) -> str:
    return f"{routes.LEADS}?{urlencode(filters)}"


class ScoringState(SessionState):
    axis: str = "source"
    heat: go.Figure = go.Figure()
    heat_rows: list[HeatRow] = []
    heat_columns: list[str] = []
    heat_total: int = 0
    channel: str = "all"
    response: go.Figure = go.Figure()
    window_text: str = ""
    response_sends: int = 0
    factors: list[FactorRow] = []
    calibration_text: str = ""
    calls: list[CallRow] = []
    # Column label -> filters of each heatmap cell, for the chart's clicks.
    _drill: dict[str, dict[str, str]] = {}

    @rx.event
    async def load(self):
        await self._reload(await self._viewer())

    async def _reload(self, viewer: Viewer) -> None:
        now = datetime.now(UTC)
        if viewer.role == Role.AGENT and self.axis == "agent":
            self.axis = "source"
        axis, channel = self.axis, self.channel

        def read(s: Session) -> tuple[Any, ...]:
            return (
                insights.heatmap(s, viewer=viewer, axis=axis, now=now),
                insights.response_grid(
                    s, viewer=viewer, now=now, channel=None if channel == "all" else channel
                ),
                insights.factor_effects(s, viewer=viewer),
                insights.calibration(s, viewer=viewer),
                insights.priority_queue(s, viewer=viewer, now=now),
            )

        heat, grid, effects, calibrated, calls = await in_session(read)
        self._show_heat(heat)
        self._show_response(grid)
        self.factors = [
            FactorRow(
                factor=e.factor.replace("_", " ").capitalize(),
                weight=f"{e.weight:g}",
                leads=e.leads,
                average=f"{e.average_points:+.1f}",
            )
            for e in effects
        ]
        self.calibration_text = _calibration_text(calibrated)
        self._show_calls(calls, viewer.user_id, now)

    def _show_heat(self, heat: insights.Heatmap) -> None:
        labels = [display_source(x) if heat.axis == "source" else x for x in heat.columns]
        self.heat = heat_figure(heat, labels)
        self.heat_columns = labels
        self.heat_total = heat.total
        by_cell = {(c.x, c.band): c for c in heat.cells}
        self.heat_rows = [
            HeatRow(
                band=band,
                cells=[
                    {
                        "count": by_cell[(x, band)].count,
                        "href": leads_link(by_cell[(x, band)].filters),
                        "label": f"{label}, score {band}: {by_cell[(x, band)].count} leads",
                    }
                    for x, label in zip(heat.columns, labels, strict=True)
                ],
            )
            for band in reversed(heat.bands)  # high scores on top, as in the chart
        ]
        self._drill = {
            f"{label}|{c.band}": c.filters
            for x, label in zip(heat.columns, labels, strict=True)
            for c in heat.cells
            if c.x == x
        }

    def _show_response(self, grid: insights.ResponseGrid) -> None:
        self.response = response_figure(grid)
        self.response_sends = grid.total_sends
        window = insights.best_window(grid)
        if window is None:
            self.window_text = (
                f"Not enough sends yet to suggest a window (at least {insights.MIN_SENDS} in "
                "one time slot over the last 90 days)."
            )
        else:
            self.window_text = (
                f"Best window: {window.label} - {window.reply_rate:.0%} replied, against "
                f"{window.baseline_rate:.0%} over all hours ({window.sends:,} sends)."
            )

    def _show_calls(
        self, calls: list[insights.PriorityLead], me: int | None, now: datetime
    ) -> None:
        self.calls = [
            CallRow(
                id=c.id,
                href=routes.lead_detail(c.id),
                name=f"{c.first_name} {c.last_name}".strip() or "(no name)",
                phone=display_phone(c.phone),
                score=c.score,
                temperature=c.temperature,
                agent=c.assigned_name or "Unassigned",
                why=(
                    f"Reached out {relative_time(c.reached_out_at, now)}"
                    + ("" if c.touched else ", no call or message from a person yet")
                ),
                mine=me is not None and c.assigned_user_id == me,
                claimable=c.assigned_user_id is None,
            )
            for c in calls
        ]

    @rx.event
    async def set_axis(self, value: str | list[str]):
        axis = value if isinstance(value, str) else value[0]
        if axis in insights.AXES:
            self.axis = axis
        await self._reload(await self._viewer())

    @rx.event
    async def set_channel(self, value: str | list[str]):
        channel = value if isinstance(value, str) else value[0]
        if channel in CHANNELS:
            self.channel = channel
        await self._reload(await self._viewer())

    @rx.event
    async def drill(self, points: list[dict]):
        """A click on a heatmap cell: the Leads page, filtered to that cell's leads."""
        await self._viewer()
        if not points:
            return
        key = f"{points[0].get('x')}|{points[0].get('y')}"
        filters = self._drill.get(key)
        if filters is not None:
            return rx.redirect(leads_link(filters))

    @rx.event
    async def take(self, lead_id: int):
        """The call list's one click: an agent claims the lead, a manager takes it."""
        viewer, now = await self._viewer(), datetime.now(UTC)
        if viewer.role == Role.AGENT:
            await in_session(
                lambda s: routing.claim(s, viewer=viewer, lead_id=int(lead_id), now=now)
            )
        else:
            me = viewer.user_id
            assert me is not None

            def assign_to_me(s: Session) -> None:
                leads.get_lead(s, viewer=viewer, lead_id=int(lead_id))  # NotFound if not theirs
                silent_leads.assign(s, viewer=viewer, lead_ids=[int(lead_id)], user_id=me, now=now)

            await in_session(assign_to_me)
        await self._reload(viewer)
        return notice.success("The lead is yours: call now.")


def _calibration_text(found: dict[str, Any] | None) -> str:
    if not found:
        return (
            "Not calibrated yet: calibration fits the weights to this office's own results once "
            "it has 200 closed leads (`recovery run-job calibrate-scoring`)."
        )
    kept = "applied" if found.get("applied") else "kept the previous weights (no better)"
    return (
        f"Calibrated {str(found.get('at', ''))[:10]} on {found.get('outcomes', 0)} closed leads: "
        f"AUC {found.get('auc_before')} before, {found.get('auc_after')} after - {kept}."
    )
