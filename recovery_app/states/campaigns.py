"""The Campaigns page (managers): every campaign of the office with its status and what it has
done (sent, delivered, replied, recovered, converted, revenue, cost, ROI), and the actions its
status allows: edit a draft, pause, resume, unschedule, duplicate, archive."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app import routes
from recovery_app.domain.campaigns import performance, wizard
from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.campaigns.performance import CampaignPerformance
from recovery_app.models import Campaign, CampaignStatus
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

GOALS = {"reply": "Get a reply", "appointment": "Book an appointment", "conversion": "Close"}


class CampaignRow(TypedDict):
    id: int
    name: str
    href: str  # the wizard, for drafts; "" otherwise
    status: str
    detail: str  # channels and steps, when created or when it starts
    enrolled: str
    active: str
    sent: str
    delivered: str
    replied: str
    recovered: str
    converted: str
    revenue: str
    cost: str
    roi: str
    can_pause: bool
    can_resume: bool
    can_unschedule: bool
    can_edit: bool


def _rate(part: int, whole: int) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def _usd(cents: float) -> str:
    return f"${cents / 100:,.0f}" if cents >= 10_000 else f"${cents / 100:,.2f}"


def _row(campaign: Campaign, done: CampaignPerformance, now: datetime) -> CampaignRow:
    status = CampaignStatus(campaign.status)
    channels = " + ".join(
        "text" if c == "sms" else "email" for c in sorted(campaign.channels or [])
    )
    if status == CampaignStatus.SCHEDULED and campaign.starts_at:
        when = f"starts {campaign.starts_at:%b %-d, %H:%M} UTC"
    elif campaign.launched_at:
        when = f"launched {relative_time(campaign.launched_at, now)}"
    else:
        when = f"created {relative_time(campaign.created_at, now)}"
    roi = done.roi
    return CampaignRow(
        id=int(campaign.id),  # type: ignore[arg-type]
        name=campaign.name,
        href=routes.campaign(campaign.id) if status == CampaignStatus.DRAFT else "",  # type: ignore[arg-type]
        status=str(status),
        detail=f"{done.steps} step{'s' if done.steps != 1 else ''}"
        + (f" ({channels})" if channels else "")
        + f", {when}",
        enrolled=f"{done.enrolled:,}",
        active=f"{done.active:,} active" if done.enrolled else "",
        sent=f"{done.sent:,}",
        delivered=f"{done.delivered:,}{_rate(done.delivered, done.sent)}",
        replied=f"{done.replied:,}{_rate(done.replied, done.sent)}",
        recovered=f"{done.recovered:,}",
        converted=f"{done.converted:,}",
        revenue=_usd(done.revenue_cents),
        cost=_usd(done.cost_microdollars / 10_000),
        roi=f"{roi:,.1f}x" if roi is not None else "-",
        can_pause=status == CampaignStatus.ACTIVE,
        can_resume=status == CampaignStatus.PAUSED,
        can_unschedule=status == CampaignStatus.SCHEDULED,
        can_edit=status == CampaignStatus.DRAFT,
    )


class CampaignsState(SessionState):
    rows: list[CampaignRow] = []
    loading: bool = False
    # The row whose action is running (its buttons show a spinner), 0 for none.
    busy_id: int = 0
    # The archive confirmation: which campaign, and whether it only ever was a draft.
    archive_id: int = 0
    archive_name: str = ""
    archive_deletes: bool = False

    async def _fetch(self) -> None:
        viewer, now = await self._manager_viewer("campaigns"), datetime.now(UTC)

        def read(s: Session) -> list[CampaignRow]:
            results = performance.performance(s, viewer=viewer)
            return [
                _row(c, results.get(int(c.id), CampaignPerformance()), now)  # type: ignore[arg-type]
                for c in campaigns.list_campaigns(s, viewer=viewer)
            ]

        self.loading = True
        try:
            self.rows = await in_session(read)
        finally:
            self.loading = False

    @rx.event
    async def load(self):
        self.archive_id = 0
        await self._fetch()

    async def _act(self, campaign_id: int, work: Callable[..., Any], done: str):
        """Run one row action on the server, then show the list as it is now."""
        viewer, now = await self._manager_viewer("campaigns"), datetime.now(UTC)
        self.busy_id = int(campaign_id)
        yield
        try:
            await in_session(
                lambda s: work(s, viewer=viewer, campaign_id=int(campaign_id), now=now)
            )
        finally:
            self.busy_id = 0
        await self._fetch()
        yield notice.success(done)

    @rx.event
    async def pause(self, campaign_id: int):
        async for update in self._act(
            campaign_id, campaigns.pause, "Paused: no further steps go out until you resume."
        ):
            yield update

    @rx.event
    async def resume(self, campaign_id: int):
        async for update in self._act(
            campaign_id, campaigns.resume, "Resumed: due steps go out in their send window."
        ):
            yield update

    @rx.event
    async def unschedule(self, campaign_id: int):
        async for update in self._act(
            campaign_id, wizard.unschedule, "Back to draft: change it and launch again."
        ):
            yield update

    @rx.event
    async def duplicate(self, campaign_id: int):
        """A draft copy, opened in the wizard."""
        viewer, now = await self._manager_viewer("campaigns"), datetime.now(UTC)
        self.busy_id = int(campaign_id)
        yield
        try:
            copy = await in_session(
                lambda s: wizard.duplicate(s, viewer=viewer, campaign_id=int(campaign_id), now=now)
            )
        finally:
            self.busy_id = 0
        yield notice.success(f'"{copy.name}" is a new draft.')
        yield rx.redirect(routes.campaign(int(copy.id)))  # type: ignore[arg-type]

    @rx.event
    def ask_archive(self, campaign_id: int):
        row = next((r for r in self.rows if r["id"] == int(campaign_id)), None)
        if row is not None:
            self.archive_id, self.archive_name = row["id"], row["name"]
            self.archive_deletes = row["status"] == CampaignStatus.DRAFT

    @rx.event
    def archive_dialog_changed(self, opened: bool):
        if not opened and not self.busy_id:
            self.archive_id = 0

    @rx.event
    async def archive(self):
        """The confirmed archive: a draft is deleted, a campaign that ran keeps its results."""
        if not self.archive_id:
            return
        campaign_id, deletes = self.archive_id, self.archive_deletes
        done = "Draft deleted." if deletes else "Archived: its results stay in ROI."
        async for update in self._act(campaign_id, campaigns.archive, done):
            yield update
        self.archive_id = 0

    @rx.var
    def draft_count(self) -> int:
        return sum(1 for r in self.rows if r["status"] == CampaignStatus.DRAFT)
