"""The Reflex app: pages, the REST/webhook API mounted through `api_transformer`, error toasts."""

# Imported here, in the main thread at start-up: plotly and Reflex's serializers import numpy
# lazily, and two event-handler threads doing that first import at once can see a partially
# initialised module ("module 'numpy' has no attribute 'ndarray'").
import contextlib
from collections.abc import AsyncIterator

import numpy  # noqa: F401
import reflex as rx
from reflex.constants import CompileContext
from reflex.utils.exec import get_compile_context

from recovery_app import routes
from recovery_app.api.app import create_api
from recovery_app.api.hardening import edge
from recovery_app.components.layout import PAGES
from recovery_app.errors import ConfigurationError, RecoveryError
from recovery_app.frontend import mount_prebuilt_frontend
from recovery_app.jobs.scheduler import embedded_scheduler
from recovery_app.messaging.dispatcher import embedded_dispatcher
from recovery_app.observability import metrics_dir
from recovery_app.observability.logs import configure_logging
from recovery_app.pages import (  # noqa: F401
    campaign_wizard,
    campaigns,
    dashboard,
    inbox,
    lead_detail,
    lead_handling,
    leads,
    login,
    office,
    review,
    roi,
    scoring,
    settings,
    silent_leads,
    triggers,
)
from recovery_app.settings import get_settings, is_production
from recovery_app.states.session import PageForbidden, SignInRequired


def _backend_exception_handler(exception: Exception):
    """Our own errors carry a message meant for the user; anything else is a bug."""
    if isinstance(exception, SignInRequired):
        return rx.redirect(exception.login_url)
    if isinstance(exception, PageForbidden):
        return [
            rx.toast.error(exception.message, id="recovery-error"),
            rx.redirect(exception.redirect_to),
        ]
    if isinstance(exception, RecoveryError):
        return rx.toast.error(exception.message, id="recovery-error")
    return rx.app.default_backend_exception_handler(exception)


def index() -> rx.Component:
    return rx.center(rx.spinner(), height="100vh")


@contextlib.asynccontextmanager
async def metrics_process() -> AsyncIterator[None]:
    """Reflex lifespan task: a stopping worker tells prometheus-client it is gone."""
    try:
        yield
    finally:
        metrics_dir.mark_dead()


configure_logging()
if is_production() and get_compile_context() != CompileContext.EXPORT:
    # Unsubscribe links and sessions are signed with it: without it every marketing email would
    # fail at send time, one by one. Stop here with the one line that says what to set. Exporting
    # the pages (`make build`, the image's builder stage) signs nothing and needs no key.
    # Several workers without Redis would each keep their own browser state: stop here too.
    try:
        get_settings().resolved_secret_key()
        get_settings().check_workers()
    except ConfigurationError as exc:
        raise SystemExit(f"Configuration error: {exc.message}") from None
app = rx.App(
    # Reflex applies these in order: the exported pages behind its own routes (production), our
    # API in front, then the edge around the whole ASGI app - pages, API, upload: request ids,
    # security headers, body limits.
    api_transformer=[mount_prebuilt_frontend, create_api(), edge],
    stylesheets=["/contrast.css"],
    backend_exception_handler=_backend_exception_handler,
)
app.register_lifespan_task(embedded_scheduler)
app.register_lifespan_task(embedded_dispatcher)
app.register_lifespan_task(metrics_process)
for page in PAGES:
    app.add_page(page.component, route=page.route, title=page.title, on_load=page.on_load)
# Until the dashboard exists, the front door is the Leads page.
app.add_page(index, route=routes.INDEX, on_load=rx.redirect(routes.DASHBOARD))
