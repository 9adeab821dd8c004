"""Reflex configuration: everything environment-specific comes from recovery_app.settings."""

import os
import sys

from recovery_app.observability import metrics_dir

# Before anything imports prometheus_client: the `reflex run` process makes this start's
# metrics directory and its workers inherit it (observability/metrics.py).
metrics_dir.prepare()

import reflex as rx  # noqa: E402

from recovery_app.api.hardening import allowed_origins  # noqa: E402
from recovery_app.errors import ConfigurationError  # noqa: E402
from recovery_app.same_origin import SameOriginPlugin  # noqa: E402
from recovery_app.settings import get_settings  # noqa: E402

try:
    settings = get_settings()
except ConfigurationError as exc:
    # One clear line naming the variable, instead of a traceback from deep inside Reflex.
    sys.exit(f"Configuration error: {exc.message}")
# Granian reads its worker count from the environment only; a GRANIAN_WORKERS in .env counts
# too, like every other setting, and unset it is ours rather than Reflex's (see
# production_workers). rxconfig is imported before the workers start. Without Redis it stays
# unset (one worker either way), so a test or tool that imports this and then starts servers
# with a REDIS_URL of their own does not hand them a count meant for itself.
if settings.granian_workers is not None or settings.redis_url:
    os.environ.setdefault("GRANIAN_WORKERS", str(settings.production_workers()))

# `make run`'s reloader watches only the code. Reflex watches every top-level path that is not
# hidden, so the dev database's WAL (written by the embedded scheduler's lease every few
# seconds) restarted the back end forever; runtime files (recovery.db and its -wal/-shm,
# uploaded_files/, the metrics directory, .recovery_secret) are never code. A colon-separated
# REFLEX_HOT_RELOAD_OVERRIDE_PATHS of your own wins.
_here = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault(
    "REFLEX_HOT_RELOAD_OVERRIDE_PATHS",
    os.pathsep.join(os.path.join(_here, p) for p in ("recovery_app", "rxconfig.py", "assets")),
)

config = rx.Config(
    app_name="recovery_app",
    telemetry_enabled=False,
    db_url=settings.database_url,
    redis_url=settings.redis_url,
    # Cross-origin browser calls to Reflex's HTTP routes: APP_BASE_URL only; in development
    # also the dev server's port, which `reflex run` passes its backend in
    # REFLEX_FRONTEND_PORT. The websocket's handshake is checked by
    # hardening.websocket_origin_check instead (same origin at any address, or this list).
    cors_allowed_origins=allowed_origins(
        settings, os.environ.get("REFLEX_FRONTEND_PORT") or "3000"
    ),
    plugins=[
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium")),
        # Production pages dial whatever origin served them (recovery_app/same_origin.py).
        SameOriginPlugin(),
    ],
    # Self-hosted: the "Built with Reflex" badge sat over the wizard's buttons and tabs. Reflex
    # (Apache-2.0) honours this setting outside its own cloud.
    show_built_with_reflex=False,
    disable_plugins=[rx.plugins.SitemapPlugin],
)
