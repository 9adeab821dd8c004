"""The Settings index (managers): tenant-wide switches."""

import reflex as rx

from recovery_app.domain.accounts import repository as accounts
from recovery_app.domain.accounts import service
from recovery_app.states.db import in_session
from recovery_app.states.session import SessionState


class SettingsState(SessionState):
    agent_pool_visible: bool = True

    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("settings")
        tenant = await in_session(lambda s: accounts.get_tenant(s, viewer.tenant_id))
        self.agent_pool_visible = bool(tenant and tenant.agent_pool_visible)

    @rx.event
    async def set_agent_pool_visible(self, visible: bool):
        viewer = await self._viewer()
        await in_session(
            lambda s: service.set_agent_pool_visible(s, viewer=viewer, visible=visible)
        )
        self.agent_pool_visible = visible
        return rx.toast.success("Saved.")
