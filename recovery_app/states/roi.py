"""The ROI page (managers): revenue recovery earned against what it cost, for a date range and an
attribution model, with a table per campaign, channel, source and agent, each exportable, and a
printable one-page report. The range and model live in the URL, so a link (or the printed
report) shows the same numbers."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict
from urllib.parse import urlencode

import plotly.graph_objects as go
import reflex as rx
from sqlalchemy.orm import Session

from recovery_app import routes
from recovery_app.components.figures import FigureCard
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.analytics import roi
from recovery_app.domain.leads import service as leads
from recovery_app.errors import ValidationFailed
from recovery_app.states.db import in_session
from recovery_app.states.formatting import display_source
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
    "last_month": "Last month",
    "ytd": "Year to date",
}
MODELS_SHOWN = roi.MODELS
TABLES = ("campaigns", "channels", "sources", "agents", "costs")


Figure = FigureCard


class Row(TypedDict):
    label: str
    deals: str
    revenue: str
    sent: str
    cost: str
    roi: str


class CostRow(TypedDict):
    item: str
    detail: str
    cost: str


class SourceCost(TypedDict):
    source: str
    label: str
    usd: str


def money(cents: float) -> str:
    return f"${cents / 100:,.0f}" if abs(cents) >= 100_00 else f"${cents / 100:,.2f}"


def usd(microdollars: int) -> str:
    return money(microdollars / 10_000)


def multiple(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}x"


def preset_period(key: str, today: date) -> roi.Period:
    if key == "7d":
        return roi.Period(today - timedelta(days=6), today)
    if key == "90d":
        return roi.Period(today - timedelta(days=89), today)
    if key == "month":
        return roi.Period(today.replace(day=1), today)
    if key == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return roi.Period(end.replace(day=1), end)
    if key == "ytd":
        return roi.Period(today.replace(month=1, day=1), today)
    return roi.Period(today - timedelta(days=29), today)


def _rows(slices: list[roi.Slice], *, costs: bool) -> list[Row]:
    return [
        Row(
            label=s.label,
            deals=f"{s.deals:g}",
            revenue=money(s.revenue_cents),
            sent=f"{s.sent:,}" if costs and s.sent is not None else "",
            cost=usd(s.cost_microdollars) if costs and s.cost_microdollars is not None else "",
            roi=multiple(s.roi) if costs else "",
        )
        for s in slices
    ]


def cost_rows(costs: roi.Costs) -> list[CostRow]:
    rows = [
        CostRow(
            item="Text messages",
            detail=f"{costs.sms_sent:,} sent, {costs.sms_segments:,} segments",
            cost=usd(costs.sms_microdollars),
        ),
        CostRow(
            item="Emails", detail=f"{costs.emails_sent:,} sent", cost=usd(costs.email_microdollars)
        ),
        CostRow(
            item="AI drafting",
            detail=(
                f"{costs.ai_calls:,} drafts, "
                f"{costs.ai_input_tokens + costs.ai_output_tokens:,} tokens"
            ),
            cost=usd(costs.ai_microdollars),
        ),
        CostRow(
            item="Agent time",
            detail=f"{costs.call_minutes:,} call minutes at ${costs.agent_hourly_usd:g}/h",
            cost=usd(costs.agent_microdollars),
        ),
    ]
    for source, (count, price) in sorted(costs.sources.items()):
        rows.append(
            CostRow(
                item=f"Leads from {display_source(source)}",
                detail=f"{count:,} new at ${price:g}",
                cost=usd(round(count * price * 1_000_000)),
            )
        )
    rows.append(CostRow(item="Total", detail="", cost=usd(costs.total_microdollars)))
    return rows


def trend_figure(points: list[roi.DayPoint]) -> go.Figure:
    days = [p.day.isoformat() for p in points]
    figure = go.Figure()
    figure.add_bar(
        x=days,
        y=[p.revenue_cents / 100 for p in points],
        name="Closed revenue ($)",
        marker_color="#0d9488",
    )
    figure.add_scatter(
        x=days,
        y=[p.cost_microdollars / 1_000_000 for p in points],
        name="Message and AI cost ($)",
        yaxis="y2",
        mode="lines+markers",
        line={"color": "#c2410c"},
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=300,
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": "Revenue ($)"},
        yaxis2={"title": "Cost ($)", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def campaign_figure(slices: list[roi.Slice]) -> go.Figure:
    shown = [s for s in slices if s.revenue_cents or s.cost_microdollars][:10][::-1]
    figure = go.Figure()
    figure.add_bar(
        y=[s.label for s in shown],
        x=[s.revenue_cents / 100 for s in shown],
        orientation="h",
        name="Revenue ($)",
        marker_color="#0d9488",
    )
    figure.add_bar(
        y=[s.label for s in shown],
        x=[(s.cost_microdollars or 0) / 1_000_000 for s in shown],
        orientation="h",
        name="Cost ($)",
        marker_color="#c2410c",
    )
    figure.update_layout(
        barmode="group",
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=max(220, 60 + 50 * len(shown)),
        legend={"orientation": "h", "y": -0.15},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def cohort_figure(split: roi.BeforeAfter) -> go.Figure:
    bars = [
        (name, cohort)
        for name, cohort in (("Before go-live", split.before), ("Since go-live", split.after))
        if cohort is not None and cohort.rate is not None
    ]
    figure = go.Figure(
        go.Bar(
            x=[name for name, _ in bars],
            y=[round(100 * (c.rate or 0), 1) for _, c in bars],
            text=[f"{100 * (c.rate or 0):.1f}% of {c.went_silent:,}" for _, c in bars],
            textposition="auto",
            marker_color=["#94a3b8", "#0d9488"][: len(bars)],
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=260,
        yaxis={"title": "Silent leads recovered (%)", "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def _cohort_text(split: roi.BeforeAfter) -> str:
    if split.go_live is None:
        return (
            "No go-live date yet: set one below, or launch a first campaign (its launch day "
            "counts as go-live)."
        )
    where = "set by you" if split.go_live_source == "set" else "the first campaign's launch"
    parts = [f"Go-live {split.go_live:%b %d, %Y} ({where})."]
    for name, cohort in (("Before", split.before), ("Since", split.after)):
        if cohort is None or cohort.rate is None:
            parts.append(f"{name}: no silent leads on record.")
        else:
            parts.append(
                f"{name}: {cohort.recovered:,} of {cohort.went_silent:,} silent leads recovered "
                f"({cohort.rate:.1%}, {cohort.start:%b %d} - {cohort.end:%b %d})."
            )
    return " ".join(parts)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _csv_cell(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; labels come from lead and
    campaign names, so they are neutralised."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


class RoiState(SessionState):
    start: str = ""
    end: str = ""
    model: str = "last_touch"
    preset: str = "30d"
    # The view's own address (components.address.AddressSync puts it in the address bar), so
    # a reload or a shared link opens the same range and model.
    address: str = ""
    loading: bool = False
    range_error: str = ""
    period_text: str = ""
    window_text: str = ""
    figures: list[Figure] = []
    costs: list[CostRow] = []
    campaigns: list[Row] = []
    channels: list[Row] = []
    sources: list[Row] = []
    agents: list[Row] = []
    trend: go.Figure = go.Figure()
    by_campaign: go.Figure = go.Figure()
    cohorts: go.Figure = go.Figure()
    cohort_text: str = ""
    go_live_on: str = ""
    source_costs: list[SourceCost] = []
    settings_saving: bool = False
    generated_at: str = ""

    @rx.var
    def report_href(self) -> str:
        return f"{routes.ROI_REPORT}?{urlencode(self._query())}"

    def _query(self) -> dict[str, str]:
        return {"from": self.start, "to": self.end, "model": self.model}

    @rx.event
    async def load(self):
        """on_load of /roi and /roi/report: the range and model from the URL, else 30 days."""
        viewer = await self._manager_viewer("the ROI page")
        params = self.router.url.query_parameters
        self.start, self.end = str(params.get("from", "")), str(params.get("to", ""))
        model = str(params.get("model", "last_touch"))
        self.model = model if model in roi.MODELS else "last_touch"
        self.preset = "" if self.start else "30d"
        await self._reload(viewer)

    async def _reload(self, viewer: Viewer) -> None:
        now = datetime.now(UTC)
        self.loading, self.range_error = True, ""
        preset, start, end, model = self.preset, self.start, self.end, self.model

        def read(s: Session) -> tuple[datetime, roi.RoiReport, roi.RoiSettings, list[str]]:
            local = roi.office_clock(s, viewer=viewer, now=now)
            today = local.date()
            if preset:
                period = preset_period(preset, today)
            else:
                try:
                    first, last = date.fromisoformat(start), date.fromisoformat(end)
                except ValueError:
                    raise ValidationFailed("Pick a start and an end date.") from None
                period = roi.Period.of(first, last, today)
            return (
                local,
                roi.report(s, viewer=viewer, period=period, model=model, now=now),
                roi.roi_settings(s, viewer=viewer),
                leads.lead_filter_options(s, viewer=viewer).sources,
            )

        try:
            local, report, settings, known_sources = await in_session(read)
        except ValidationFailed as problem:
            self.range_error, self.loading = problem.message, False
            return
        self.start, self.end = report.period.start.isoformat(), report.period.end.isoformat()
        self._show(report, local)
        self.go_live_on = settings.go_live_on.isoformat() if settings.go_live_on else ""
        sources = sorted(set(known_sources) | set(settings.source_costs))
        self.source_costs = [
            SourceCost(
                source=source,
                label=display_source(source),
                usd=f"{settings.source_costs[source]:g}" if source in settings.source_costs else "",
            )
            for source in sources
        ]
        self.loading = False

    def _show(self, report: roi.RoiReport, now: datetime) -> None:
        """`now` in the office's time zone (the report's "generated at")."""
        period, costs = report.period, report.costs
        self.period_text = (
            f"{period.start:%b %d, %Y} - {period.end:%b %d, %Y} ({period.days} days), "
            f"{roi.MODELS[report.model].lower()} attribution"
        )
        self.window_text = (
            f"A deal counts as recovered revenue when a recovery message went out in the "
            f"{report.window_days} days before it closed."
        )
        self.figures = [
            Figure(
                label="Recovered revenue",
                value=money(report.revenue_cents),
                hint=f"{report.deals:,} of {report.closed_deals:,} deals "
                f"({money(report.closed_revenue_cents)} closed in all)",
                id="fig-revenue",
            ),
            Figure(
                label="Cost",
                value=usd(costs.total_microdollars),
                hint="messages, AI, agent time, lead sources",
                id="fig-cost",
            ),
            Figure(
                label="ROI",
                value=multiple(report.roi),
                hint="recovered revenue per dollar spent",
                id="fig-roi",
            ),
            Figure(
                label="Recovered leads",
                value=f"{report.recovered:,}",
                hint="silent leads that answered again",
                id="fig-recovered",
            ),
            Figure(
                label="Cost per recovered lead",
                value="-"
                if report.cost_per_recovered_cents is None
                else money(report.cost_per_recovered_cents),
                hint="total cost / recovered leads",
                id="fig-cost-per",
            ),
        ]
        self.costs = cost_rows(costs)
        self.campaigns = _rows(report.by_campaign, costs=True)
        self.channels = _rows(report.by_channel, costs=True)
        self.sources = _rows(
            [
                roi.Slice(s.key, display_source(s.label), s.deals, s.revenue_cents)
                for s in report.by_source
            ],
            costs=False,
        )
        self.agents = _rows(report.by_agent, costs=False)
        self.trend = trend_figure(report.daily)
        self.by_campaign = campaign_figure(report.by_campaign)
        self.cohorts = cohort_figure(report.before_after)
        self.cohort_text = _cohort_text(report.before_after)
        self.generated_at = now.strftime("%b %d, %Y %H:%M %Z")

    @rx.event
    async def pick_preset(self, key: str):
        if key not in PRESETS:
            return
        self.preset = key
        await self._reload(await self._manager_viewer("the ROI page"))
        self.address = self._url()

    @rx.event
    async def set_range(self, form: dict):
        self.start, self.end = str(form.get("from", "")), str(form.get("to", ""))
        self.preset = ""
        await self._reload(await self._manager_viewer("the ROI page"))
        self.address = self._url()

    @rx.event
    async def set_model(self, value: str | list[str]):
        model = value if isinstance(value, str) else value[0]
        if model not in roi.MODELS:
            return
        self.model = model
        await self._reload(await self._manager_viewer("the ROI page"))
        self.address = self._url()

    def _url(self) -> str:
        return f"{routes.ROI}?{urlencode(self._query())}"

    @rx.event
    async def export(self, table: str):
        """Download one of the page's tables as CSV, for the range on screen."""
        await self._manager_viewer("the ROI page")
        if table not in TABLES:
            return
        if table == "costs":
            content = _csv(
                ["Cost", "Detail", "Amount"],
                [[_csv_cell(r["item"]), r["detail"], r["cost"]] for r in self.costs],
            )
        else:
            rows = getattr(self, table)
            first = {"campaigns": "Campaign", "channels": "Channel", "sources": "Source"}
            content = _csv(
                [first.get(table, "Agent"), "Deals", "Revenue", "Sent", "Cost", "ROI"],
                [
                    [
                        _csv_cell(r["label"]),
                        r["deals"],
                        r["revenue"],
                        r["sent"],
                        r["cost"],
                        r["roi"],
                    ]
                    for r in rows
                ],
            )
        return rx.download(data=content, filename=f"roi-{table}-{self.start}-{self.end}.csv")

    @rx.event
    async def save_settings(self, form: dict):
        viewer = await self._manager_viewer("the ROI page")
        raw_go_live = str(form.get("go_live_on", "")).strip()
        problems: dict[str, str] = {}
        go_live: date | None = None
        if raw_go_live:
            try:
                go_live = date.fromisoformat(raw_go_live)
            except ValueError:
                problems["go_live_on"] = "a date"
        source_costs: dict[str, float] = {}
        for key, value in form.items():
            if not key.startswith("cost:") or not str(value).strip():
                continue
            try:
                source_costs[key[5:]] = float(str(value).replace("$", "").strip())
            except ValueError:
                problems[key] = "a dollar amount"
        if problems:
            yield notice.error("Check the go-live date and the costs: numbers and dates only.")
            return
        self.settings_saving = True
        yield
        try:
            await in_session(
                lambda s: roi.update_roi_settings(
                    s, viewer=viewer, go_live_on=go_live, source_costs=source_costs
                )
            )
        finally:
            self.settings_saving = False
        await self._reload(viewer)
        yield notice.success("ROI settings saved.")
