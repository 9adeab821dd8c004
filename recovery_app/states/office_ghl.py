"""Settings -> Office -> GoHighLevel (managers): the office's token, write-backs on/off, the
won stage, a real test call, the sync's health (last sync, waiting and failed writes) and the
full contact import with its progress, refreshed while it runs."""

import asyncio
from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.crm import config, sync
from recovery_app.errors import RecoveryError
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.integration_card import (
    CardRow,
    CardSpec,
    IntegrationCardState,
    TestOutcome,
    card_spec,
    last_error,
    last_ok,
)
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

WATCH_SECONDS = 2.0
# A page left open stops watching after this long (an import can wait for the scheduler).
WATCH_LIMIT_SECONDS = 15 * 60


class StageOption(TypedDict):
    value: str
    label: str


def _row(status: config.GhlStatus, now: datetime) -> CardRow:
    where = (
        f"Sub-account (location) {status.location_id} with token {status.masked_token}"
        if status.masked_token
        else f"No token for sub-account (location) {status.location_id}: paste one below."
    )
    if status.demo:
        where = "A demo office: nothing is written to GoHighLevel. " + where
    if status.paused_until is not None:
        where += f" GoHighLevel asked us to wait until {status.paused_until:%H:%M:%S} UTC (429)."
    counts = status.counts
    waiting = counts.get("queued", 0) + counts.get("sending", 0)
    usage = [
        f"Last sync {relative_time(status.last_sync_at, now)}"
        if status.last_sync_at
        else "Nothing written back yet",
        f"{counts.get('done', 0)} writes done",
    ]
    if counts.get("failed"):
        usage.append(f"{counts['failed']} failed (see each lead's sync log)")
    if status.daily_remaining is not None:
        usage.append(f"{status.daily_remaining:,} API calls left today")
    return CardRow(
        state=status.state,
        where=where,
        enabled=status.enabled,
        last_ok=last_ok(
            status.last_ok_at, now, done="Last good answer", never="No answer from GoHighLevel yet"
        ),
        last_error=last_error(status.last_error, status.last_error_at, now),
        waiting=f"{waiting} writes waiting" if waiting else "",
        usage=" · ".join(usage),
    )


def _progress(progress: dict[str, Any]) -> str:
    if not progress:
        return ""
    total = progress.get("total")
    of = f" of {total:,}" if isinstance(total, int) else ""
    counts = (
        f"{progress.get('seen', 0):,}{of} contacts read: {progress.get('imported', 0):,} new "
        f"leads, {progress.get('merged', 0):,} merged into existing ones, "
        f"{progress.get('rejected', 0):,} without a usable email or phone"
    )
    words = {
        "running": "Importing",
        "done": "Import finished",
        "paused": "Import paused",
    }.get(str(progress.get("status")), "Import")
    error = f" - {progress['error']}" if progress.get("error") else ""
    return f"{words}: {counts}{error}"


def _show(state: Any, status: config.GhlStatus, now: datetime) -> None:
    state.card = _row(status, now)
    state.location_id = status.location_id
    state.won_stage = status.won_stage
    state.stages = [
        StageOption(
            value=f"{s['pipeline_id']}/{s['stage_id']}", label=f"{s['pipeline']} → {s['stage']}"
        )
        for s in status.stages
    ]
    state.import_line = _progress(status.import_progress)
    state.importing = status.import_progress.get("status") == "running"


def _changes(form: dict[str, Any]) -> config.GhlChanges:
    stage = str(form.get("won_stage") or "")
    return config.GhlChanges(
        token=str(form.get("ghl_token") or ""),
        remove_token=form.get("ghl_remove") in ("on", "true", True),
        enabled=form.get("ghl_enabled") in ("on", "true", True),
        won_stage="" if stage == "auto" else stage,
    )


async def _test(viewer: Viewer) -> TestOutcome:
    target = await in_session(lambda s: sync.test_target(s, viewer=viewer))
    result = await sync.test_connection(target)
    now = datetime.now(UTC)

    def record(s: Session) -> config.GhlStatus:
        sync.record_test(s, viewer=viewer, target=target, result=result, now=now)
        return config.ghl_status(s, viewer=viewer, now=now)

    status = await in_session(record)
    return TestOutcome(result.ok, result.answer.detail, status)


def _status(s: Session, viewer: Viewer, now: datetime) -> config.GhlStatus:
    return config.ghl_status(s, viewer=viewer, now=now)


@card_spec(
    CardSpec(
        name="GoHighLevel",
        status=_status,
        show=_show,
        changes=_changes,
        save=lambda s, viewer, changes, now: config.save_ghl(
            s, viewer=viewer, changes=changes, now=now
        ),
        test=_test,
    )
)
class OfficeGhlState(IntegrationCardState, SessionState):
    location_id: str = ""
    won_stage: str = ""
    stages: list[StageOption] = []
    import_line: str = ""
    importing: bool = False

    @rx.event
    async def start_import(self):
        """Queue the full import of the location's contacts; progress shows while it runs."""
        viewer = await self._manager_viewer("the office settings")
        now = datetime.now(UTC)
        try:
            status = await in_session(lambda s: config.start_import(s, viewer=viewer, now=now))
        except RecoveryError as exc:
            yield notice.error(exc.message)
            return
        _show(self, status, now)
        yield notice.success("Import started: the ghl_import job pages through the contacts.")
        yield OfficeGhlState.watch_import

    @rx.event(background=True)
    async def watch_import(self):
        """Re-read the progress every couple of seconds while the import runs."""
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < WATCH_LIMIT_SECONDS:
            async with self:
                viewer = await self._manager_viewer("the office settings")
            await asyncio.sleep(WATCH_SECONDS)
            now = datetime.now(UTC)
            status = await in_session(lambda s, v=viewer, at=now: _status(s, v, at))
            async with self:
                _show(self, status, now)
                if not self.importing:
                    return
