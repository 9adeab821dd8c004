"""Role rules in one place. Services call these; pages and routes only translate the errors."""

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.errors import Forbidden
from recovery_app.models import Role


def require_manager(viewer: Viewer, action: str = "do this") -> None:
    if not viewer.is_manager:
        raise Forbidden(f"Only a manager can {action}.")


def require_admin(viewer: Viewer, action: str = "do this") -> None:
    if not viewer.is_admin:
        raise Forbidden(f"Only an admin can {action}.")


def assignable_roles(viewer: Viewer) -> tuple[Role, ...]:
    """Roles this viewer may give: managers make agents and managers; only admins make admins."""
    if viewer.is_admin:
        return (Role.AGENT, Role.MANAGER, Role.ADMIN)
    if viewer.is_manager:
        return (Role.AGENT, Role.MANAGER)
    return ()
