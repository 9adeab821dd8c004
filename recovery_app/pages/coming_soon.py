"""Pages whose features have not been built yet say so plainly: no sample numbers."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.states.session import SessionState


def _coming_soon(title: str, what: str) -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="6"),
        rx.callout(f"Not built yet: {what}", icon="construction", color_scheme="gray"),
        spacing="4",
    )


@page(route=routes.CAMPAIGNS, title="Campaigns", on_load=SessionState.load_manager_frame)
def campaigns_page() -> rx.Component:
    return _coming_soon("Campaigns", "the campaign wizard and per-campaign performance.")
