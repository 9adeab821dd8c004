from dataclasses import dataclass

from recovery_app.models.enums import Role


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking, resolved from a session cookie or an API key. Every service that reads or
    changes tenant data takes one and filters by it; nothing trusts what the browser claims."""

    tenant_id: int
    role: Role
    user_id: int | None = None
    name: str = ""
    email: str = ""
    session_id: int | None = None
    api_key_id: int | None = None
    api_key_prefix: str | None = None
    # The tenant lets agents see (and claim) its unassigned leads.
    agent_pool_visible: bool = True
    is_demo: bool = False

    @property
    def is_manager(self) -> bool:
        """Managers and admins manage the tenant (team, keys, campaigns, settings)."""
        return self.role in (Role.MANAGER, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def actor_label(self) -> str:
        """How the audit log names this actor when it is not a signed-in user."""
        if self.api_key_prefix:
            return f"api_key:{self.api_key_prefix}"
        return f"user:{self.user_id}"
