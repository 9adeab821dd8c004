"""The back end serves the front end `make build` exported, so production needs no rebuild.

Full-stack `reflex run --env prod` recompiles the app and re-runs the Vite build at every start
(minutes of CPU per instance, bun and 400 MB of node_modules in the image). Instead `make build`
exports the pages once (`reflex export --frontend-only`, into `.web/build/client`) and
`make serve` / the Docker image run `reflex run --env prod --backend-only`, which Reflex starts
without its own frontend mount; this transformer adds that mount (Reflex's own static handler:
precompressed files, dynamic routes from the export's routes manifest), so pages, websocket and
API still share one port.
"""

from __future__ import annotations

import logging
from pathlib import Path

from reflex.utils.prerequisites import get_web_dir
from reflex_base import constants
from reflex_base.environment import environment
from starlette.types import ASGIApp

logger = logging.getLogger(__name__)


def prebuilt_frontend_dir() -> Path:
    """Where `reflex export --frontend-only --no-zip` leaves the pages (`.web/build/client`)."""
    return get_web_dir() / constants.Dirs.STATIC


def serves_prebuilt_frontend() -> bool:
    """True in a production back-end-only process, which Reflex gives no frontend mount."""
    return (
        environment.REFLEX_ENV_MODE.get() == constants.Env.PROD
        and environment.REFLEX_BACKEND_ONLY.get()
        and not environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.get()
    )


def mount_prebuilt_frontend(asgi_app: ASGIApp) -> ASGIApp:
    """Reflex's backend (websocket, /ping, /_upload) with the exported pages behind its routes."""
    if not serves_prebuilt_frontend():
        return asgi_app
    index = prebuilt_frontend_dir() / "index.html"
    if not index.exists():
        # A deployment may serve the pages from elsewhere (a CDN, a static server).
        logger.warning(
            "No prebuilt front end at %s (run `make build`): serving the API only", index
        )
        return asgi_app
    from reflex.utils.exec import get_frontend_mount
    from starlette.applications import Starlette

    if not isinstance(asgi_app, Starlette):
        msg = f"expected Reflex's Starlette backend, got {type(asgi_app).__name__}"
        raise TypeError(msg)
    # Appended last: Reflex's own routes and our API answer first, the pages catch the rest.
    asgi_app.routes.append(get_frontend_mount())
    return asgi_app
