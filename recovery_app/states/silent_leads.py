"""The Silent leads page: the office's silent leads, filtered, sorted and paged on the server,
with why each went silent and what is planned next; row actions and bulk actions on the
selection or on every lead the filter matches (confirmed with the count, with progress)."""

from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app import routes
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns import recovery
from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.campaigns import silent_leads as silent
from recovery_app.domain.ids import is_id
from recovery_app.domain.leads import service as leads
from recovery_app.errors import ValidationFailed
from recovery_app.models import Channel, Temperature
from recovery_app.states.db import in_session
from recovery_app.states.formatting import display_phone, display_source
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState

ALL = "all"  # Radix selects cannot hold "", so "all" means "no filter"
NONE = "none"  # unassigned / in no campaign

# "Silent for at least": choice -> hours.
SILENT_FOR: dict[str, int] = {"1d": 24, "3d": 72, "7d": 168, "14d": 336, "30d": 720}
MIN_SCORES = ("20", "40", "60", "80")
SNOOZE_DAYS = ("1", "3", "7", "14", "30", "90")
LOST_REASONS = (
    "No response",
    "Not interested",
    "Bought or insured elsewhere",
    "Bad contact details",
    "Other",
)
ACTION_VERBS = {
    "enroll": "Enroll in a campaign",
    "snooze": "Snooze",
    "assign": "Assign",
    "lost": "Mark lost",
}
DONE_VERBS = {
    "enroll": "Enrolled",
    "snooze": "Snoozed",
    "assign": "Assigned",
    "lost": "Marked lost",
}


class SilentRow(TypedDict):
    id: int
    href: str
    name: str
    contact: str
    source: str
    temperature: str
    score: int
    agent: str
    silent_for: str
    last_channel: str
    why: str
    next: str
    next_note: str
    planned: bool
    opted_out: bool


def span(start: datetime | None, end: datetime) -> str:
    """A stretch of time in the unit people count it in: "5 h", "12 d"."""
    if start is None:
        return "-"
    hours = max(0, int((end - start).total_seconds() // 3600))
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def _planned(step: silent.PlannedStep | None, now: datetime) -> tuple[str, str]:
    """The next move as two short lines: what ("Email 2/3 of Win back") and when or why not."""
    if step is None:
        return "Nothing planned", "Send a message now or enroll in a campaign"
    channel = {"sms": "SMS", "email": "Email"}.get(step.channel or "", "Step")
    what = f"{channel} {min(step.step, step.step_count)}/{step.step_count} of {step.campaign}"
    if step.hold_reason:
        return what, f"Waits: {step.hold_reason}"
    if step.due_at is None:
        return what, ""
    if step.due_at <= now:
        return what, "Due now"
    return what, f"Due in {span(now, step.due_at)}"


def _row(lead: silent.SilentLead, now: datetime) -> SilentRow:
    next_text, note = _planned(lead.next, now)
    return SilentRow(
        id=lead.id,
        href=routes.lead_detail(lead.id),
        name=f"{lead.first_name} {lead.last_name}".strip() or "(no name)",
        contact=display_phone(lead.phone) or lead.email or "",
        source=display_source(lead.source),
        temperature=lead.temperature,
        score=lead.score,
        agent=lead.assigned_name or "Unassigned",
        silent_for=span(lead.last_outbound_at, now),
        last_channel={"sms": "SMS", "email": "email"}.get(lead.last_channel or "", ""),
        # The detection pass writes the reason ("No reply within 3 d of our last message").
        why=lead.reason or "No reply to our last message",
        next=next_text,
        next_note=note,
        planned=lead.next is not None,
        opted_out=lead.opted_out_sms and lead.opted_out_email,
    )


class SilentLeadsState(SessionState):
    rows: list[SilentRow] = []
    total: int = 0
    page: int = 1
    page_count: int = 1
    loading: bool = False

    search: str = ""
    silent_for: str = ALL
    temperature: str = ALL
    min_score: str = ALL
    source: str = ALL
    agent: str = ALL
    campaign: str = ALL
    channel: str = ALL
    sort: str = "silent_for"
    descending: bool = True

    source_choices: list[Choice] = []
    agent_choices: list[Choice] = []
    # Every campaign, for the filter; those a lead can be put into now, for the actions.
    campaign_choices: list[Choice] = []
    enroll_choices: list[Choice] = []

    selected: list[int] = []
    # The bulk bar's "all N matching" is chosen instead of the ticked rows.
    all_matching: bool = False

    # The action dialog: which action, on what, and how far a running one got.
    action: str = ""
    action_scope: str = ""  # "row" | "selected" | "matching"
    action_count: int = 0
    action_label: str = ""
    running: bool = False
    done: int = 0
    _action_ids: list[int] = []

    def _query(self, page: int | None = None) -> silent.SilentQuery:
        def chosen_id(value: str) -> int | None:
            if value == NONE:
                return 0
            return int(value) if is_id(value) else None

        return silent.SilentQuery(
            silent_for_hours=SILENT_FOR.get(self.silent_for),
            temperature=Temperature(self.temperature) if self.temperature != ALL else None,
            min_score=int(self.min_score) if is_id(self.min_score) else None,
            source=self.source if self.source != ALL else None,
            assigned_user_id=chosen_id(self.agent),
            campaign_id=chosen_id(self.campaign),
            last_channel=Channel(self.channel) if self.channel != ALL else None,
            text=self.search,
            sort=self.sort,
            descending=self.descending,
            page=page or self.page,
        )

    async def _fetch(self) -> None:
        viewer, query, now = await self._viewer(), self._query(), datetime.now(UTC)
        self.loading = True
        result = await in_session(
            lambda s: silent.list_silent(s, viewer=viewer, query=query, now=now)
        )
        now = datetime.now(UTC)
        self.rows = [_row(lead, now) for lead in result.items]
        self.total, self.page, self.page_count = result.total, result.page, result.page_count
        self.loading = False

    @rx.event
    async def load(self):
        """on_load: the filter and action choices, and the first page."""
        viewer = await self._viewer()

        def choices(s: Session) -> tuple[Any, list[Any], list[Any]]:
            return (
                leads.lead_filter_options(s, viewer=viewer),
                campaigns.list_campaigns(s, viewer=viewer),
                campaigns.enrollable_campaigns(s, viewer=viewer),
            )

        options, every, enrollable = await in_session(choices)
        self.source_choices = [Choice(value=s, label=display_source(s)) for s in options.sources]
        self.agent_choices = [Choice(value=str(a.id), label=a.name) for a in options.agents]
        self.campaign_choices = [Choice(value=str(c.id), label=c.name) for c in every]
        self.enroll_choices = [Choice(value=str(c.id), label=c.name) for c in enrollable]
        self.selected, self.all_matching = [], False
        await self._fetch()

    async def _refilter(self) -> None:
        self.page, self.selected, self.all_matching = 1, [], False
        await self._fetch()

    @rx.event
    async def set_search(self, text: str):
        self.search = text[:100]
        await self._refilter()

    @rx.event
    async def set_filter(self, name: str, value: str):
        """One of the select filters changed; unknown names and values fall back to "all"."""
        allowed: dict[str, Any] = {
            "silent_for": SILENT_FOR,
            "temperature": tuple(Temperature),
            "min_score": MIN_SCORES,
            "channel": tuple(Channel),
        }
        if name in allowed:
            value = value if value in allowed[name] else ALL
        elif name in ("source",):
            value = value[:40]
        elif name in ("agent", "campaign"):
            value = value if value in (ALL, NONE) or is_id(value) else ALL
        else:
            return
        setattr(self, name, value)
        await self._refilter()

    @rx.event
    async def clear_filters(self):
        self.search = ""
        for name in ("silent_for", "temperature", "min_score", "source", "agent", "campaign"):
            setattr(self, name, ALL)
        self.channel = ALL
        await self._refilter()

    @rx.event
    async def sort_by(self, key: str):
        """Click a column header: sort by it, or flip the direction if it is already the sort."""
        if key not in silent.SORTS:
            return
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, key != "name"
        await self._refilter()

    async def _go(self, page: int) -> None:
        self.page = max(1, min(page, self.page_count))
        self.selected, self.all_matching = [], False
        await self._fetch()

    @rx.event
    async def go_to_page(self, page: int):
        await self._go(int(page))

    @rx.event
    async def next_page(self):
        await self._go(self.page + 1)

    @rx.event
    async def previous_page(self):
        await self._go(self.page - 1)

    # Selection -----------------------------------------------------------------------------

    @rx.event
    def toggle_row(self, lead_id: int):
        if lead_id in self.selected:
            self.selected = [i for i in self.selected if i != lead_id]
        elif any(row["id"] == lead_id for row in self.rows):
            self.selected = [*self.selected, lead_id]
        self.all_matching = False

    @rx.event
    def toggle_page(self):
        everyone = [row["id"] for row in self.rows]
        self.selected = [] if set(everyone) <= set(self.selected) else everyone
        self.all_matching = False

    @rx.event
    def choose_all_matching(self, value: bool):
        self.all_matching = bool(value)

    @rx.event
    def clear_selection(self):
        self.selected, self.all_matching = [], False

    # Actions -------------------------------------------------------------------------------

    @rx.event
    async def send_now(self, lead_id: int):
        """Row action: the next best recovery message, now (through the outbox and the guard)."""
        viewer, now = await self._viewer(), datetime.now(UTC)
        self.loading = True  # drafting can take a moment (an AI call when one is configured)
        yield
        try:
            result = await in_session(
                lambda s: recovery.trigger(s, viewer=viewer, lead_id=int(lead_id), now=now)
            )
        finally:
            self.loading = False
        await self._fetch()
        channel = "text" if result.channel == Channel.SMS else "email"
        if result.hold_reason:
            yield notice.warning(f"The {channel} waits: {result.hold_reason}")
        else:
            yield notice.success(f"Recovery {channel} queued.")

    def _open(self, action: str, scope: str, label: str, count: int) -> None:
        self.action, self.action_scope, self.action_label = action, scope, label
        self.action_count, self.done, self.running = count, 0, False

    @rx.event
    async def open_row_action(self, action: str, lead_id: int):
        """A row's menu: the action's dialog for that one lead."""
        viewer = await self._viewer()
        if action not in ACTION_VERBS or (action == "assign" and not viewer.is_manager):
            return
        row = next((r for r in self.rows if r["id"] == int(lead_id)), None)
        if row is None:
            return
        self._action_ids = [row["id"]]
        self._open(action, "row", row["name"], 1)

    @rx.event
    async def open_bulk_action(self, action: str):
        """The bulk bar: the action's dialog for the ticked rows or for all matching, with the
        count (counted now, on the server) in the confirmation."""
        viewer, now = await self._viewer(), datetime.now(UTC)
        if action not in ACTION_VERBS or (action == "assign" and not viewer.is_manager):
            return
        if self.all_matching:
            query = self._query()
            count = await in_session(
                lambda s: silent.count_matching(s, viewer=viewer, query=query, now=now)
            )
            self._action_ids = []
            self._open(action, "matching", f"all {count:,} matching leads", count)
        elif self.selected:
            self._action_ids = list(self.selected)
            n = len(self.selected)
            self._open(action, "selected", f"{n} selected lead{'s' if n != 1 else ''}", n)

    @rx.event
    def dialog_open_changed(self, opened: bool):
        """Escape or a click outside closes the dialog, unless an action is running."""
        if not opened:
            self._close()

    @rx.event
    def close_action(self):
        self._close()

    def _close(self) -> None:
        if not self.running:
            self.action, self._action_ids = "", []

    def _apply(self, form: dict[str, Any], viewer: Viewer, now: datetime):
        """The chosen action as a function of (session, lead ids), checked before any work."""
        action = self.action
        if action == "enroll":
            campaign_id = str(form.get("campaign", ""))
            if not is_id(campaign_id):
                raise _choose("a campaign")
            return lambda s, ids: silent.enroll(
                s, viewer=viewer, lead_ids=ids, campaign_id=int(campaign_id), now=now
            ), {"campaign_id": int(campaign_id)}
        if action == "snooze":
            days = str(form.get("days", ""))
            if days not in SNOOZE_DAYS:
                raise _choose("how long")
            until = now + timedelta(days=int(days))
            return lambda s, ids: silent.snooze(
                s, viewer=viewer, lead_ids=ids, until=until, now=now
            ), {"days": int(days)}
        if action == "assign":
            user_id = str(form.get("agent", ""))
            if not is_id(user_id):
                raise _choose("who gets them")
            return lambda s, ids: silent.assign(
                s, viewer=viewer, lead_ids=ids, user_id=int(user_id), now=now
            ), {"user_id": int(user_id)}
        reason = str(form.get("reason", ""))
        if reason not in LOST_REASONS:
            raise _choose("a reason")
        return lambda s, ids: silent.mark_lost(
            s, viewer=viewer, lead_ids=ids, reason=reason, now=now
        ), {"reason": reason}

    @rx.event
    async def run_action(self, form: dict):
        """Run the confirmed action: at once for a row or the ticked rows; for all matching,
        a chunk per transaction, reporting progress between chunks."""
        if not self.action or self.running:
            return
        viewer, now = await self._viewer(), datetime.now(UTC)
        apply, detail = self._apply(form, viewer, now)
        action, scope = self.action, self.action_scope
        self.running, self.done = True, 0
        yield
        changed = 0
        try:
            if scope == "matching":
                query, after = self._query(), 0
                while True:

                    def chunk(s: Session, after: int = after) -> tuple[int, int, int]:
                        ids = silent.matching_ids(
                            s, viewer=viewer, query=query, now=now, after_id=after
                        )
                        return (ids[-1] if ids else after), len(ids), apply(s, ids)

                    after, seen, count = await in_session(chunk)
                    if not seen:
                        break
                    changed += count
                    self.done += seen
                    yield
            else:
                ids = list(self._action_ids)
                changed = await in_session(lambda s: apply(s, ids))
                self.done = len(ids)
            if scope != "row":
                await in_session(
                    lambda s: silent.audit_bulk(
                        s, viewer=viewer, action=action, count=changed, detail=detail
                    )
                )
        finally:
            self.running = False
        self.action, self._action_ids = "", []
        self.selected, self.all_matching = [], False
        await self._fetch()
        yield notice.success(
            f"{DONE_VERBS[action]}: {changed:,} lead{'s' if changed != 1 else ''}."
        )

    @rx.var
    def has_filters(self) -> bool:
        return bool(self.search) or any(
            v != ALL
            for v in (
                self.silent_for,
                self.temperature,
                self.min_score,
                self.source,
                self.agent,
                self.campaign,
                self.channel,
            )
        )

    @rx.var
    def range_label(self) -> str:
        if not self.total:
            return "No silent leads match"
        first = (self.page - 1) * silent.PAGE_SIZE + 1
        last = min(self.total, self.page * silent.PAGE_SIZE)
        return f"{first:,}-{last:,} of {self.total:,}"

    @rx.var
    def page_selected(self) -> bool:
        return bool(self.rows) and all(row["id"] in self.selected for row in self.rows)

    @rx.var
    def action_title(self) -> str:
        return ACTION_VERBS.get(self.action, "")

    @rx.var
    def progress(self) -> int:
        return min(100, int(100 * self.done / self.action_count)) if self.action_count else 0


def _choose(what: str) -> ValidationFailed:
    return ValidationFailed(f"Choose {what} first.")
