"""Reflex configuration: everything environment-specific comes from recovery_app.settings."""

import sys

import reflex as rx

from recovery_app.errors import ConfigurationError
from recovery_app.settings import get_settings

try:
    settings = get_settings()
except ConfigurationError as exc:
    # One clear line naming the variable, instead of a traceback from deep inside Reflex.
    sys.exit(f"Configuration error: {exc.message}")

config = rx.Config(
    app_name="recovery_app",
    telemetry_enabled=False,
    db_url=settings.database_url,
    redis_url=settings.redis_url,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
