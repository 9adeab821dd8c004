"""The Reflex app: pages, the REST/webhook API mounted through `api_transformer`, error toasts."""

# Imported here, in the main thread at start-up: plotly and Reflex's serializers import numpy
# lazily, and two event-handler threads doing that first import at once can see a partially
# initialised module ("module 'numpy' has no attribute 'ndarray'").
import numpy  # noqa: F401
import reflex as rx

from recovery_app import routes
from recovery_app.api.app import create_api
from recovery_app.components.layout import PAGES
from recovery_app.errors import RecoveryError
from recovery_app.jobs.scheduler import embedded_scheduler
from recovery_app.messaging.dispatcher import embedded_dispatcher
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


app = rx.App(
    api_transformer=create_api(),
    stylesheets=["/contrast.css"],
    backend_exception_handler=_backend_exception_handler,
)
app.register_lifespan_task(embedded_scheduler)
app.register_lifespan_task(embedded_dispatcher)
for page in PAGES:
    app.add_page(page.component, route=page.route, title=page.title, on_load=page.on_load)
# Until the dashboard exists, the front door is the Leads page.
app.add_page(index, route=routes.INDEX, on_load=rx.redirect(routes.DASHBOARD))
