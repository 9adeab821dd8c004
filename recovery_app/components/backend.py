"""Addresses of backend routes as the browser sees them.

In development the pages come from :3000 and the backend from :8000, and Reflex's own
`getBackendURL` maps the backend's address onto the host the page was loaded from. In
production both share one origin (recovery_app/same_origin.py), so a form's action is a bare
path: prerendering writes the action into the exported HTML, and a path is right at every
address the build is served at.
"""

from reflex.utils.imports import ImportVar
from reflex.vars.base import Var, VarData
from reflex_base.components.component import field
from reflex_components_core.el.elements.base import BaseHTML

from recovery_app.routes import API_PREFIX

_backend_origin = Var(
    _js_expr='(env.SAME_ORIGIN ? "" : getBackendURL(env.PING).origin)',
    _var_data=VarData(
        imports={
            "$/utils/state": "getBackendURL",
            "$/env.json": ImportVar(tag="env", is_default=True),
        }
    ),
).to(str)


def backend_url(path: str) -> Var[str]:
    """The absolute URL of `/api/v1{path}` for a form's action."""
    return _backend_origin + f"{API_PREFIX}{path}"


class PostForm(BaseHTML):
    """A plain `<form method="post">` the browser submits itself. Reflex's own form always
    cancels the native submit to send the fields over the websocket, but only a real
    navigation can receive the HttpOnly session cookie."""

    tag = "form"

    action: Var[str] = field(doc="URL the form posts to")
    method: Var[str] = field(doc="HTTP method (post)")


def post_form(*children, path: str, **props) -> PostForm:
    """A native form that POSTs to the backend route `/api/v1{path}`."""
    return PostForm.create(*children, action=backend_url(path), method="post", **props)
