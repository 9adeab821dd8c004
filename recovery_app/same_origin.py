"""One exported front end for every address it is served at.

Reflex writes the backend's absolute URL (`api_url`, e.g. `http://localhost:8000`) into the
pages' `env.json` and maps only the host names `localhost`/`0.0.0.0` onto the page's own host,
keeping the port. A production page opened at `http://127.0.0.1:3000`, a LAN address or a
domain behind the proxy on another port dialled the wrong place, and prerendering baked the
URL into static HTML (form actions), which React does not patch while hydrating.

In production the pages, the websocket, uploads and the API share one origin (the backend
serves the exported pages, `recovery_app/frontend.py`). `SameOriginPlugin` then writes only
paths into `env.json` and teaches Reflex's `getBackendURL` to resolve them against
`window.location`, so nothing in the build names a host, port or scheme: one `make build`
serves `http://127.0.0.1:PORT`, `http://localhost:PORT` and `https://leads.example.com`
behind a proxy alike. Development (`make run`: pages on :3000, backend on :8000) keeps
Reflex's behaviour. A deployment that serves the pages from elsewhere (a CDN) sets
`REFLEX_API_URL` to the backend's public address, which is then used as it is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from reflex_base import constants
from reflex_base.config import get_config
from reflex_base.plugins.base import Plugin

# Reflex's own list (reflex_base/.templates/web/utils/state.js, SAME_DOMAIN_HOSTNAMES): an
# api_url on one of these means "the host the page came from".
SAME_DOMAIN_HOSTNAMES = ("localhost", "0.0.0.0", "::", "0:0:0:0:0:0:0:0")
STATE_JS = "utils/state.js"
# The line of getBackendURL the patch goes after, and the marker that makes it idempotent
# (each compile re-applies modify tasks to the file already on disk).
_ANCHOR = "  const endpoint = new URL(url_str);\n"
_MARKER = "recovery_app same-origin"
_PATCH = f"""  // {_MARKER}: endpoints are paths; resolve them against the page's own origin.
  if (env.SAME_ORIGIN) {{
    return sameOriginURL(url_str);
  }}
"""
_HELPER = f"""
// {_MARKER}: in production the backend serves the pages, so every endpoint lives on the
// origin the page was loaded from (http or https, any host and port, behind any proxy).
const sameOriginURL = (path) => {{
  if (typeof window === "undefined") {{
    // Prerendering: nothing is dialled at build time, and no address may be baked in.
    return new URL(path, "http://prerender.invalid");
  }}
  const url = new URL(path, window.location.href);
  if (path.startsWith(env.EVENT)) {{
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
  }}
  return url;
}};
"""


def serves_same_origin() -> bool:
    """True when the pages are built to reach the backend on their own origin: production
    with Reflex's default (loopback) api_url."""
    from reflex.utils.exec import is_prod_mode

    return is_prod_mode() and urlsplit(get_config().api_url).hostname in SAME_DOMAIN_HOSTNAMES


def endpoint_paths() -> dict[str, str]:
    """env.json's endpoints as paths on the page's origin (`/_event`, `/ping`, ...)."""
    config = get_config()
    return {
        endpoint.name: config.prepend_backend_path(str(endpoint)) for endpoint in constants.Endpoint
    }


def patch_state_js(source: str) -> str:
    """Reflex's state.js with getBackendURL resolving paths against window.location."""
    if _MARKER in source:
        return source
    head, anchor, tail = source.partition(_ANCHOR)
    if not anchor or "export const getBackendURL" not in head:
        # The template changed upstream: fail the build rather than ship pages that dial
        # the wrong address.
        msg = (
            f"SameOriginPlugin cannot patch {STATE_JS}: getBackendURL no longer has "
            f"{_ANCHOR.strip()!r}; check reflex_base/.templates/web/utils/state.js"
        )
        raise RuntimeError(msg)
    # The constant goes before the function so it exists when the function runs.
    head, export, rest = head.rpartition("export const getBackendURL")
    return head + _HELPER.lstrip("\n") + "\n" + export + rest + _PATCH + anchor + tail


class SameOriginPlugin(Plugin):
    """Production pages dial the origin they were loaded from (see the module docstring)."""

    def pre_compile(self, **context) -> None:
        # Patched in every mode; the code path only runs when env.json says SAME_ORIGIN.
        context["add_modify_task"](STATE_JS, patch_state_js)

    def update_env_json(self, **context) -> dict[str, object]:
        if not serves_same_origin():
            return {"SAME_ORIGIN": False}
        return {**endpoint_paths(), "SAME_ORIGIN": True}
