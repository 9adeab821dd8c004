"""The lead page's GoHighLevel sync log and its "Resync" action."""

from datetime import UTC, datetime
from typing import TypedDict

import reflex as rx

from recovery_app.domain.crm import writeback
from recovery_app.domain.ids import is_id
from recovery_app.errors import Conflict, NotFound
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

STATUS_WORDS = {
    "queued": "waiting",
    "sending": "sending",
    "done": "written",
    "failed": "failed",
    "skipped": "skipped",
}


class SyncRow(TypedDict):
    what: str
    status: str
    when: str
    answer: str


class LeadSyncState(SessionState):
    syncing: bool = False
    rows: list[SyncRow] = []
    resyncing: bool = False

    def _lead_id(self) -> int:
        raw = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        return int(raw) if is_id(raw) else 0

    @rx.event
    async def load(self):
        viewer, lead_id = await self._viewer(), self._lead_id()
        try:
            syncing, writes = await in_session(
                lambda s: writeback.sync_log(s, viewer=viewer, lead_id=lead_id)
            )
        except NotFound:  # the lead page says so; nothing of another lead stays here
            self.syncing, self.rows = False, []
            return
        now = datetime.now(UTC)
        self.syncing = syncing
        self.rows = [
            SyncRow(
                what=w.summary
                + (f" ({w.payload['written_tag']})" if w.payload.get("written_tag") else ""),
                status=STATUS_WORDS.get(w.status, w.status)
                + (f" (try {w.attempts})" if w.attempts > 1 and w.status != "done" else ""),
                when=relative_time(w.done_at or w.updated_at, now),
                answer=w.error or w.result or "",
            )
            for w in writes
        ]

    @rx.event
    async def resync(self):
        """Upsert the contact and write the status and fields again; failed writes retry."""
        viewer, lead_id = await self._viewer(), self._lead_id()
        self.resyncing = True
        yield
        try:
            queued = await in_session(
                lambda s: writeback.resync(s, viewer=viewer, lead_id=lead_id, now=datetime.now(UTC))
            )
        except Conflict as exc:  # sync off, or nothing to know the lead by
            yield notice.error(exc.message)
            return
        finally:
            self.resyncing = False
        yield notice.success(f"{queued} writes queued for GoHighLevel (the ghl_sync job).")
        yield LeadSyncState.load
