"""Texts no office could be found for (admins): read them and give each to an office."""

from datetime import UTC, datetime
from typing import TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app.domain.accounts import repository as accounts
from recovery_app.domain.conversations import unmatched
from recovery_app.domain.ids import is_id
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, PageForbidden, SessionState

KEYWORD_LABELS = {
    "stop": "STOP: opted out on the number",
    "opt_out": "Asked to stop: opted out on the number",
    "start": "START: opted back in on the number",
    "help": "HELP",
}


class UnmatchedRow(TypedDict):
    id: int
    from_phone: str
    to_number: str
    body: str
    keyword: str
    when: str


class UnmatchedState(SessionState):
    texts: list[UnmatchedRow] = []
    office_choices: list[Choice] = []
    # The office picked for each text (text id -> tenant id), until assigned.
    picked: dict[str, str] = {}

    async def _fetch(self) -> None:
        viewer = await self._viewer()
        if not viewer.is_admin:
            raise PageForbidden("Only admins can see texts no office could be found for.")
        now = datetime.now(UTC)

        def read(s: Session):
            return unmatched.open_texts(s, viewer=viewer), accounts.list_tenants(s)

        rows, offices = await in_session(read)
        self.texts = [
            UnmatchedRow(
                id=r.id,
                from_phone=r.from_phone,
                to_number=r.to_number,
                body=r.body,
                keyword=KEYWORD_LABELS.get(r.keyword, ""),
                when=relative_time(r.received_at, now),
            )
            for r in rows
        ]
        self.office_choices = [
            Choice(value=str(o.id), label=o.name) for o in offices if o.demo_expires_at is None
        ]

    @rx.event
    async def load(self):
        self.picked = {}
        await self._fetch()

    @rx.event
    def pick(self, text_id: int, tenant_id: str):
        self.picked = {**self.picked, str(int(text_id)): tenant_id}

    @rx.event
    async def assign(self, text_id: int):
        viewer = await self._viewer()
        chosen = self.picked.get(str(int(text_id)), "")
        if not is_id(chosen):
            return notice.error("Pick the office this text is for first.")
        now = datetime.now(UTC)
        await in_session(
            lambda s: unmatched.assign(
                s, viewer=viewer, text_id=int(text_id), tenant_id=int(chosen), now=now
            )
        )
        office = next((c["label"] for c in self.office_choices if c["value"] == chosen), "")
        await self._fetch()
        return notice.success(f"Assigned to {office}: it is that office's lead's text now.")
