"""The Settings index (managers): tenant-wide switches."""

from datetime import UTC, datetime
from typing import TypedDict

import reflex as rx

from recovery_app.domain.accounts import repository as accounts
from recovery_app.domain.accounts import service
from recovery_app.domain.compliance import revocation
from recovery_app.jobs import status as jobs
from recovery_app.models import Channel
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState


class JobRow(TypedDict):
    name: str
    description: str
    every: str
    last_run: str
    duration: str
    processed: str
    error: str


def _every(seconds: int) -> str:
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _job_row(job: jobs.JobStatus, now: datetime) -> JobRow:
    return JobRow(
        name=job.name,
        description=job.description,
        every=_every(job.every_seconds),
        last_run=relative_time(job.started_at, now) if job.started_at else "never",
        duration=f"{job.duration_seconds:.2f} s" if job.duration_seconds is not None else "",
        processed=", ".join(f"{k} {v}" for k, v in job.processed.items() if v)[:200],
        error=(job.error or "")[:200],
    )


class SettingsState(SessionState):
    agent_pool_visible: bool = True
    resume_nurture_on_cancel: bool = True
    # The revoke-all rule per channel: an opt-out elsewhere stops marketing texts / email.
    revoke_all_sms: bool = True
    revoke_all_email: bool = True
    scheduler_leader: str = ""
    job_rows: list[JobRow] = []

    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("settings")
        now = datetime.now(UTC)
        tenant, leader, statuses = await in_session(
            lambda s: (
                accounts.get_tenant(s, viewer.tenant_id),
                jobs.leader(s, now),
                jobs.job_statuses(s),
            )
        )
        self.agent_pool_visible = bool(tenant and tenant.agent_pool_visible)
        self.resume_nurture_on_cancel = bool(tenant and service.resume_nurture_on_cancel(tenant))
        exempt = revocation.exempt_channels(tenant) if tenant else set()
        self.revoke_all_sms, self.revoke_all_email = "sms" not in exempt, "email" not in exempt
        self.scheduler_leader = leader or ""
        self.job_rows = [_job_row(job, now) for job in statuses]

    @rx.event
    async def set_agent_pool_visible(self, visible: bool):
        viewer = await self._viewer()
        await in_session(
            lambda s: service.set_agent_pool_visible(s, viewer=viewer, visible=visible)
        )
        self.agent_pool_visible = visible
        return notice.success("Saved.")

    @rx.event
    async def set_revoke_all_sms(self, stops: bool):
        await self._set_revoke_all(Channel.SMS, stops)
        self.revoke_all_sms = stops
        return notice.success("Saved.")

    @rx.event
    async def set_revoke_all_email(self, stops: bool):
        await self._set_revoke_all(Channel.EMAIL, stops)
        self.revoke_all_email = stops
        return notice.success("Saved.")

    async def _set_revoke_all(self, channel: Channel, stops: bool) -> None:
        viewer = await self._viewer()
        await in_session(
            lambda s: service.set_revoke_all(s, viewer=viewer, channel=channel, stops=bool(stops))
        )

    @rx.event
    async def set_resume_nurture_on_cancel(self, resume: bool):
        viewer = await self._viewer()
        await in_session(
            lambda s: service.set_resume_nurture_on_cancel(s, viewer=viewer, resume=resume)
        )
        self.resume_nurture_on_cancel = resume
        return notice.success("Saved.")
