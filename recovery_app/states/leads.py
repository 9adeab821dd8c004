"""The Leads page: one page of a tenant's leads, filtered and sorted on the server; agents
claim leads from it, managers import and export CSV."""

import asyncio
from datetime import UTC, datetime
from typing import TypedDict
from urllib.parse import urlencode

import reflex as rx

from recovery_app import routes
from recovery_app.domain.ids import is_id
from recovery_app.domain.leads import csv_io
from recovery_app.domain.leads import service as leads
from recovery_app.domain.leads.schemas import PAGE_SIZE, LeadQuery, LeadSummary
from recovery_app.domain.routing import service as routing
from recovery_app.errors import ValidationFailed
from recovery_app.models import LeadStatus, Temperature
from recovery_app.states.db import in_session
from recovery_app.states.formatting import display_phone, display_source, relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState

ALL = "all"  # Radix selects cannot hold "", so "all" means "no filter"
UNASSIGNED = "unassigned"


# Range filters only the address sets (no control on the page; "Clear" removes them).
RANGES = ("min_score", "max_score", "silent_for_hours", "silent_max_hours")


def _number(value: str) -> int | None:
    return int(value) if is_id(value) else None


class LeadRow(TypedDict):
    id: int
    href: str
    name: str
    email: str
    phone: str
    source: str
    status: str
    temperature: str
    score: int
    agent: str
    last_activity: str
    created: str
    opted_out: bool
    claimable: bool


def _row(lead: LeadSummary, now: datetime) -> LeadRow:
    return LeadRow(
        id=lead.id,
        href=routes.lead_detail(lead.id),
        name=f"{lead.first_name} {lead.last_name}".strip() or "(no name)",
        email=lead.email or "",
        phone=display_phone(lead.phone),
        source=display_source(lead.source),
        status=lead.status,
        temperature=lead.temperature,
        score=lead.score,
        agent=lead.assigned_name or "Unassigned",
        last_activity=relative_time(lead.last_activity_at, now),
        created=lead.created_at.strftime("%b %-d, %Y"),
        opted_out=lead.opted_out_sms or lead.opted_out_email,
        claimable=lead.assigned_user_id is None,
    )


class ImportRow(TypedDict):
    row: int
    outcome: str
    lead_id: str
    reason: str


# The import dialog lists this many rows that need a look (rejected first); the downloadable
# report has every row.
IMPORT_ROWS_SHOWN = 200


class LeadsState(SessionState):
    rows: list[LeadRow] = []
    total: int = 0
    page: int = 1
    page_count: int = 1
    loading: bool = False

    search: str = ""
    status: str = ALL
    temperature: str = ALL
    source: str = ALL
    agent: str = ALL
    sort: str = "last_activity"
    descending: bool = True
    # Ranges that arrive in the address (the Scoring page's heatmap cells link here with them).
    min_score: str = ""
    max_score: str = ""
    silent_for_hours: str = ""
    silent_max_hours: str = ""
    open_only: bool = False

    source_choices: list[Choice] = []
    agent_choices: list[Choice] = []

    importing: bool = False
    import_done: int = 0
    import_open: bool = False
    import_error: str = ""
    import_counts: dict[str, int] = {}
    import_rows: list[ImportRow] = []
    # The full per-row report as CSV, kept on the server until downloaded.
    _import_report: str = ""

    def _query(self) -> LeadQuery:
        agent: int | None = None
        if self.agent == UNASSIGNED:
            agent = 0
        elif self.agent != ALL:
            agent = int(self.agent)
        return LeadQuery(
            status=LeadStatus(self.status) if self.status != ALL else None,
            temperature=Temperature(self.temperature) if self.temperature != ALL else None,
            source=self.source if self.source != ALL else None,
            assigned_user_id=agent,
            min_score=_number(self.min_score),
            max_score=_number(self.max_score),
            silent_for_hours=_number(self.silent_for_hours),
            silent_max_hours=_number(self.silent_max_hours),
            open_only=self.open_only,
            text=self.search,
            sort=self.sort,
            descending=self.descending,
            page=self.page,
            page_size=PAGE_SIZE,
        )

    async def _fetch(self) -> None:
        viewer, query, now = await self._viewer(), self._query(), datetime.now(UTC)
        self.loading = True
        result = await in_session(
            lambda s: leads.list_leads(s, viewer=viewer, query=query, now=now)
        )
        now = datetime.now(UTC)
        self.rows = [_row(lead, now) for lead in result.items]
        self.total, self.page, self.page_count = result.total, result.page, result.page_count
        self.loading = False

    @rx.event
    async def load(self):
        """on_load: the filter choices and the first page."""
        viewer = await self._viewer()
        options = await in_session(lambda s: leads.lead_filter_options(s, viewer=viewer))
        self.source_choices = [Choice(value=s, label=display_source(s)) for s in options.sources]
        self.agent_choices = [Choice(value=str(a.id), label=a.name) for a in options.agents]
        self._filters_from_address()
        await self._fetch()

    def _filters_from_address(self) -> None:
        """Filters in the page address (`/leads?source=referral&min_score=40&max_score=59`),
        as the Scoring page links them; anything unknown or malformed is ignored."""
        params = self.router.url.query_parameters
        if not params:
            return
        self.page = 1
        status, hot = str(params.get("status", "")), str(params.get("temperature", ""))
        self.status = status if status in tuple(LeadStatus) else ALL
        self.temperature = hot if hot in tuple(Temperature) else ALL
        self.source = str(params.get("source") or ALL)[:40]
        agent = str(params.get("agent") or ALL)
        self.agent = agent if agent in (ALL, UNASSIGNED) or is_id(agent) else ALL
        for name in RANGES:
            value = str(params.get(name) or "")
            setattr(self, name, value if is_id(value) and len(value) <= 4 else "")
        self.open_only = params.get("open") == "1"

    async def _refilter(self) -> None:
        self.page = 1
        await self._fetch()

    @rx.event
    async def set_search(self, text: str):
        self.search = text[:100]
        await self._refilter()

    @rx.event
    async def set_status(self, value: str):
        self.status = value if value in (ALL, *LeadStatus) else ALL
        await self._refilter()

    @rx.event
    async def set_temperature(self, value: str):
        self.temperature = value if value in (ALL, *Temperature) else ALL
        await self._refilter()

    @rx.event
    async def set_source(self, value: str):
        self.source = value
        await self._refilter()

    @rx.event
    async def set_agent(self, value: str):
        self.agent = value if value in (ALL, UNASSIGNED) or is_id(value) else ALL
        await self._refilter()

    @rx.event
    async def clear_filters(self):
        self.search, self.status, self.temperature, self.source, self.agent = "", ALL, ALL, ALL, ALL
        for name in RANGES:
            setattr(self, name, "")
        self.open_only = False
        await self._refilter()

    @rx.event
    async def sort_by(self, key: str):
        """Click a column header: sort by it, or flip the direction if it is already the sort."""
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, key in ("last_activity", "created", "score")
        await self._refilter()

    @rx.event
    async def go_to_page(self, page: int):
        self.page = max(1, min(page, self.page_count))
        await self._fetch()

    @rx.event
    async def next_page(self):
        self.page = min(self.page + 1, self.page_count)
        await self._fetch()

    @rx.event
    async def previous_page(self):
        self.page = max(self.page - 1, 1)
        await self._fetch()

    @rx.event
    async def claim(self, lead_id: int):
        """An agent takes an unassigned lead (offered to them, or from the pool)."""
        viewer, now = await self._viewer(), datetime.now(UTC)
        await in_session(lambda s: routing.claim(s, viewer=viewer, lead_id=lead_id, now=now))
        await self._fetch()
        return notice.success("The lead is yours.")

    @rx.event
    async def import_leads(self, files: list[rx.UploadFile]):
        """Import an uploaded CSV through the intake path (managers). Streams progress."""
        viewer = await self._manager_viewer("lead import")
        if not files:
            return
        raw = await files[0].read(csv_io.MAX_BYTES + 1)  # never more than the limit in memory
        if len(raw) > csv_io.MAX_BYTES:
            self.import_error = f"The file is over {csv_io.MAX_BYTES // (1024 * 1024)} MB."
            self.import_open = True
            return
        text = raw.decode("utf-8-sig", errors="replace")
        self.importing, self.import_done, self.import_error = True, 0, ""
        self.import_open, self.import_counts, self.import_rows = True, {}, []
        yield
        done = [0]
        task = asyncio.create_task(
            asyncio.to_thread(
                csv_io.import_csv,
                text,
                viewer=viewer,
                now=datetime.now(UTC),
                progress=lambda n: done.__setitem__(0, n),
            )
        )
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            self.import_done = done[0]
            yield
        self.importing = False
        try:
            report = task.result()
        except ValidationFailed as exc:
            self.import_error = "; ".join([exc.message, *exc.fields.values()])
            return
        self.import_counts = report.counts
        worth_a_look = sorted(
            (r for r in report.rows if r.outcome != "created"),
            key=lambda r: (r.outcome != "rejected", r.row),
        )
        self.import_rows = [
            ImportRow(row=r.row, outcome=r.outcome, lead_id=str(r.lead_id or ""), reason=r.reason)
            for r in worth_a_look[:IMPORT_ROWS_SHOWN]
        ]
        self._import_report = report.as_csv()
        await self._fetch()

    @rx.event
    async def download_import_report(self):
        await self._manager_viewer("lead import")
        return rx.download(data=self._import_report, filename="import-report.csv")

    @rx.event
    def close_import(self):
        self.import_open, self._import_report = False, ""

    @rx.var
    def export_query(self) -> str:
        """The current filters as the export link's query string."""
        params = {
            "status": self.status,
            "temperature": self.temperature,
            "source": self.source,
            "agent": self.agent,
            "q": self.search.strip(),
            **{name: getattr(self, name) for name in RANGES},
            "open": "1" if self.open_only else "",
        }
        return urlencode({k: v for k, v in params.items() if v and v != ALL})

    @rx.var
    def has_filters(self) -> bool:
        return (
            bool(self.search)
            or any(v != ALL for v in (self.status, self.temperature, self.source, self.agent))
            or bool(self.range_label_filters)
        )

    @rx.var
    def range_label_filters(self) -> str:
        """The address's ranges in words ("Open leads, score 40-59"), "" when none."""
        parts = ["open leads"] if self.open_only else []
        if self.min_score or self.max_score:
            parts.append(f"score {self.min_score or 0}-{self.max_score or 100}")
        if self.silent_for_hours or self.silent_max_hours:
            low = int(self.silent_for_hours or 0) // 24
            high = f"{int(self.silent_max_hours) // 24}" if self.silent_max_hours else ""
            parts.append(f"silent {low}-{high} d" if high else f"silent {low}+ d")
        text = ", ".join(parts)
        return text[:1].upper() + text[1:]

    @rx.var
    def range_label(self) -> str:
        if not self.total:
            return "No leads match"
        first = (self.page - 1) * PAGE_SIZE + 1
        last = min(self.total, self.page * PAGE_SIZE)
        return f"{first:,}-{last:,} of {self.total:,}"
