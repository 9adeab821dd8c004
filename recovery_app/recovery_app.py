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
from recovery_app.api.hardening import edge, websocket_origin_check
from recovery_app.components.layout import PAGES
from recovery_app.components.notices import notice_toaster
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
    unmatched,
)
from recovery_app.settings import get_settings, is_production
from recovery_app.states.notices import notice
from recovery_app.states.session import PageForbidden, SignInRequired


def _backend_exception_handler(exception: Exception):
    """Our own errors carry a message meant for the user; anything else is a bug."""
    if isinstance(exception, SignInRequired):
        return rx.redirect(exception.login_url)
    if isinstance(exception, PageForbidden):
        return [
            notice.error(exception.message, key="recovery-error"),
            rx.redirect(exception.redirect_to),
        ]
    if isinstance(exception, RecoveryError):
        return notice.error(exception.message, key="recovery-error")
    # Reflex's own handler logs the traceback; its toast would need eval (states/notices.py).
    rx.app.default_backend_exception_handler(exception)
    detail = "" if is_production() else f" ({type(exception).__name__}: {exception})"
    return notice.error(
        f"Something went wrong on our side{detail}. Try again; if it keeps happening, "
        "tell your administrator.",
        key="backend-error",
    )


def index() -> rx.Component:
    return rx.center(rx.spinner(), height="100vh")


@contextlib.asynccontextmanager
async def metrics_process() -> AsyncIterator[None]:
    """Reflex lifespan task: a stopping worker tells prometheus-client it is gone."""
    try:
        yield
    finally:
        metrics_dir.mark_dead()


@contextlib.asynccontextmanager
async def same_origin_websockets() -> AsyncIterator[None]:
    """Reflex lifespan task: python-socketio checks each websocket handshake's Origin against a
    fixed list (rx.Config.cors_allowed_origins), which cannot say "the address this request
    came to". Its engine takes a callable too: ours accepts a page on the server's own origin,
    whatever host, port or proxy users reach it through (api/hardening.is_own_origin)."""
    if app.sio is not None:
        app.sio.eio.cors_allowed_origins = websocket_origin_check
    yield


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
    # Before the app's scripts: a new sign-in starts the tab on a new state, and a sign-in
    # sent before the page's state arrived still returns to where it came from (see the files).
    head_components=[rx.el.script(src="/tab_session.js"), rx.el.script(src="/sign_in_next.js")],
    # Server-sent toasts without eval (states/notices.py), in the app root so a toast sent
    # just before a redirect still shows on the next page.
    extra_app_wraps={(3, "Notices"): lambda stateful: notice_toaster() if stateful else None},
    backend_exception_handler=_backend_exception_handler,
)
app.register_lifespan_task(embedded_scheduler)
app.register_lifespan_task(embedded_dispatcher)
app.register_lifespan_task(metrics_process)
app.register_lifespan_task(same_origin_websockets)
for page in PAGES:
    app.add_page(page.component, route=page.route, title=page.title, on_load=page.on_load)
# Until the dashboard exists, the front door is the Leads page.
app.add_page(index, route=routes.INDEX, on_load=rx.redirect(routes.DASHBOARD))
