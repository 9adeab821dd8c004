"""Team management (managers): add people, change role/capacity/specialties/hours and booking
link, deactivate, reset a password. Every change goes through domain/accounts/team.py, which checks the role."""

from datetime import UTC, datetime
from typing import TypedDict

import reflex as rx

from recovery_app.domain.accounts import team
from recovery_app.domain.accounts.team import MemberChanges
from recovery_app.domain.ids import is_id
from recovery_app.errors import ValidationFailed
from recovery_app.models import Role
from recovery_app.states.db import in_session
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


class MemberRow(TypedDict):
    id: str
    name: str
    email: str
    role: str
    capacity: int
    specialties: str
    timezone: str
    hours: str
    active: bool
    last_login: str
    booking_url: str
    slack_webhook: str  # masked: the URL is a secret
    slack_error: str


class MemberForm(TypedDict, total=False):
    email: str
    full_name: str
    role: str
    capacity: str
    specialties: str
    timezone: str
    start: str
    end: str
    booking_url: str
    slack_webhook_url: str
    slack_remove: str


def _row(member: team.Member) -> MemberRow:
    hours = member.working_hours.get("mon")
    return MemberRow(
        id=str(member.id),
        name=member.full_name,
        email=member.email,
        role=member.role,
        capacity=member.capacity,
        specialties=", ".join(member.specialties),
        timezone=member.timezone,
        hours=f"{hours[0]}-{hours[1]} weekdays" if hours else "",
        active=member.active,
        last_login=member.last_login_at.strftime("%b %-d, %H:%M")
        if member.last_login_at
        else "never",
        booking_url=member.booking_url or "",
        slack_webhook=member.slack_webhook,
        slack_error=member.slack_webhook_error or "",
    )


def _changes(form: MemberForm) -> MemberChanges:
    capacity = form.get("capacity", "").strip()
    if capacity and not is_id(capacity):
        raise ValidationFailed("Capacity must be a whole number.", fields={"capacity": "0 to 1000"})
    start, end = form.get("start", "").strip(), form.get("end", "").strip()
    return MemberChanges(
        full_name=form.get("full_name") or None,
        role=Role(form["role"]) if form.get("role") in tuple(Role) else None,
        capacity=int(capacity) if capacity else None,
        specialties=form["specialties"].split(",") if "specialties" in form else None,
        timezone=form.get("timezone") or None,
        working_hours={day: [start, end] for day in WEEKDAYS} if start and end else None,
        # "" (an emptied field) clears the link; a form without the field leaves it.
        booking_url=form.get("booking_url"),
        # The URL is never shown back, so an empty field keeps it; the box removes it.
        slack_webhook_url=""
        if form.get("slack_remove") in ("on", "true")
        else (form.get("slack_webhook_url") or "").strip() or None,
    )


class TeamState(SessionState):
    members: list[MemberRow] = []
    editing_id: str = ""
    revealed_password: str = ""
    revealed_for: str = ""

    async def _reload(self) -> None:
        viewer = await self._manager_viewer("the team page")
        members = await in_session(lambda s: team.list_team(s, viewer=viewer))
        self.members = [_row(m) for m in members]

    @rx.event
    async def load(self):
        await self._reload()

    @rx.event
    async def add_member(self, form: MemberForm):
        viewer = await self._viewer()
        changes = _changes(form)
        role = Role(form.get("role") or Role.AGENT)
        member, password = await in_session(
            lambda s: team.add_member(
                s,
                viewer=viewer,
                email=form.get("email", ""),
                full_name=form.get("full_name", ""),
                role=role,
                changes=changes,
            )
        )
        await self._reload()
        self.revealed_password, self.revealed_for = password, member.email
        return notice.success(f"Added {member.full_name}.")

    @rx.event
    def start_edit(self, user_id: str):
        self.editing_id = user_id

    @rx.event
    def stop_edit(self):
        self.editing_id = ""

    @rx.event
    async def save_member(self, form: MemberForm):
        viewer = await self._viewer()
        user_id, changes = int(self.editing_id or 0), _changes(form)
        member = await in_session(
            lambda s: team.update_member(s, viewer=viewer, user_id=user_id, changes=changes)
        )
        self.editing_id = ""
        await self._reload()
        return notice.success(f"Saved {member.full_name}.")

    @rx.event
    async def set_active(self, user_id: str, active: bool):
        viewer, now = await self._viewer(), datetime.now(UTC)
        member = await in_session(
            lambda s: team.set_active(
                s, viewer=viewer, user_id=int(user_id), active=active, now=now
            )
        )
        await self._reload()
        verb = "Reactivated" if active else "Deactivated"
        return notice.success(f"{verb} {member.full_name}.")

    @rx.event
    async def reset_password(self, user_id: str):
        viewer, now = await self._viewer(), datetime.now(UTC)
        password = await in_session(
            lambda s: team.reset_password(s, viewer=viewer, user_id=int(user_id), now=now)
        )
        self.revealed_password = password
        self.revealed_for = next((m["email"] for m in self.members if m["id"] == user_id), "")

    @rx.event
    def forget_password(self):
        """Close the one-time password dialog; the password is not kept anywhere."""
        self.revealed_password, self.revealed_for = "", ""
