"""The approval queue page: AI drafts of campaigns in review mode, oldest first, one open at a
time beside its lead's context (score, status, the last messages both ways). Approve (edited
or not), reject (the step's template goes out instead) or approve a whole campaign's drafts.
Agents see the drafts of their own leads; managers the office's."""

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx

from recovery_app import routes
from recovery_app.domain.campaigns import review
from recovery_app.domain.ids import is_id
from recovery_app.domain.leads import repository as lead_rows
from recovery_app.domain.leads import service as leads
from recovery_app.errors import ValidationFailed
from recovery_app.models import Lead, Message, pk
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState

ALL = "all"


class DraftRow(TypedDict):
    id: str
    lead: str
    campaign: str
    channel: str
    preview: str
    waiting: str


class ContextMessage(TypedDict):
    direction: str
    channel: str
    body: str
    when: str


class ReviewState(SessionState):
    rows: list[DraftRow] = []
    campaign_choices: list[Choice] = []
    campaign_filter: str = ALL
    selected: str = ""
    subject: str = ""
    body: str = ""
    channel: str = ""
    drafted_by: str = ""
    template_body: str = ""
    lead_name: str = ""
    lead_href: str = ""
    lead_facts: str = ""
    lead_messages: list[ContextMessage] = []
    error: str = ""

    async def _reload(self, keep: str = "") -> None:
        viewer, now = await self._viewer(), datetime.now(UTC)
        campaign_id = int(self.campaign_filter) if is_id(self.campaign_filter) else None

        def read(s: Any) -> tuple[list[review.PendingDraft], list[tuple[int, str]]]:
            return (
                review.pending(s, viewer=viewer, campaign_id=campaign_id),
                review.waiting_campaigns(s, viewer=viewer),
            )

        items, campaigns = await in_session(read)
        self.rows = [
            DraftRow(
                id=str(item.review.id),
                lead=f"{item.lead.first_name} {item.lead.last_name}".strip() or "A lead",
                campaign=item.campaign_name,
                channel=str(item.review.channel),
                preview=(item.review.subject or item.review.body)[:80],
                waiting=relative_time(item.review.created_at, now),
            )
            for item in items
        ]
        self.campaign_choices = [Choice(value=str(i), label=name) for i, name in campaigns]
        ids = [row["id"] for row in self.rows]
        await self._open(keep if keep in ids else (ids[0] if ids else ""))

    async def _open(self, review_id: str) -> None:
        self.selected, self.error = review_id, ""
        if not review_id:
            self.subject = self.body = self.channel = self.drafted_by = self.template_body = ""
            self.lead_name = self.lead_href = self.lead_facts = ""
            self.lead_messages = []
            return
        viewer, now = await self._viewer(), datetime.now(UTC)

        def read(s: Any) -> tuple[review.PendingDraft, Lead, list[Message]]:
            item = review.pending_one(s, viewer=viewer, review_id=int(review_id))
            lead = leads.get_lead(s, viewer=viewer, lead_id=item.lead.id)
            return item, lead, lead_rows.lead_messages(s, lead_id=pk(lead), limit=4)

        item, lead, messages = await in_session(read)
        draft = item.review
        self.subject, self.body = draft.subject or "", draft.body
        self.channel, self.drafted_by = str(draft.channel), draft.drafted_by
        self.template_body = draft.fallback_body
        self.lead_name = f"{lead.first_name} {lead.last_name}".strip() or "A lead"
        self.lead_href = routes.lead_detail(lead.id)
        self.lead_facts = (
            f"Score {lead.score} ({lead.temperature}) - {lead.status}"
            + (f": {lead.status_reason}" if lead.status_reason else "")
            + f" - source {lead.source.replace('_', ' ')}"
        )
        self.lead_messages = [
            ContextMessage(
                direction="We wrote" if m.direction == "outbound" else "They wrote",
                channel=str(m.channel),
                body=m.body[:300],
                when=relative_time(m.created_at, now),
            )
            for m in reversed(messages)
        ]

    @rx.event
    async def load(self):
        await self._reload()

    @rx.event
    async def open_draft(self, review_id: str):
        await self._open(review_id)

    @rx.event
    async def step(self, by: int):
        """The next (or previous) draft in the list: keyboard j / k."""
        ids = [row["id"] for row in self.rows]
        if not ids:
            return
        at = ids.index(self.selected) if self.selected in ids else -1
        await self._open(ids[max(0, min(len(ids) - 1, at + by))])

    @rx.event
    async def set_campaign_filter(self, value: str):
        self.campaign_filter = value
        await self._reload()

    @rx.event
    def set_subject(self, value: str):
        self.subject = value

    @rx.event
    def set_body(self, value: str):
        self.body = value

    @rx.event
    async def approve(self):
        if not self.selected:
            return
        viewer, now, review_id = await self._viewer(), datetime.now(UTC), int(self.selected)
        subject = self.subject if self.channel == "email" else None
        try:
            await in_session(
                lambda s: review.approve(
                    s, viewer=viewer, review_id=review_id, subject=subject, body=self.body, now=now
                )
            )
        except ValidationFailed as exc:
            self.error = "; ".join((exc.fields or {}).values()) or exc.message
            return notice.error("The message cannot go out as written.")
        return await self._decided("Approved: it goes out through the outbox.")

    @rx.event
    async def reject(self):
        if not self.selected:
            return
        viewer, now, review_id = await self._viewer(), datetime.now(UTC), int(self.selected)
        await in_session(lambda s: review.reject(s, viewer=viewer, review_id=review_id, now=now))
        return await self._decided("Rejected: the step's template goes out instead.")

    @rx.event
    async def approve_all(self):
        if not is_id(self.campaign_filter):
            return notice.error("Pick a campaign first.")
        viewer, now, campaign_id = (
            await self._viewer(),
            datetime.now(UTC),
            int(self.campaign_filter),
        )
        count = await in_session(
            lambda s: review.approve_all(s, viewer=viewer, campaign_id=campaign_id, now=now)
        )
        await self._reload()
        return notice.success(f"Approved {count} draft(s).")

    async def _decided(self, text: str):
        ids = [row["id"] for row in self.rows]
        at = ids.index(self.selected) if self.selected in ids else 0
        following = ids[at + 1] if at + 1 < len(ids) else ""
        await self._reload(keep=following)
        return notice.success(text)
