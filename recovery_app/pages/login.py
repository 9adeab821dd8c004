"""Sign in with email and password, or (in demo mode) start a private demo sandbox."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.backend import post_form
from recovery_app.components.layout import public_page
from recovery_app.states.login import LoginState


def _demo_entry() -> rx.Component:
    return rx.cond(
        LoginState.demo_enabled,
        rx.vstack(
            rx.separator(),
            rx.text(
                "Just looking? Get a private copy of the demo brokerage, signed in as its "
                "manager. It is deleted after 24 hours and nothing is really sent.",
                size="2",
                color_scheme="gray",
            ),
            post_form(
                rx.button(
                    rx.icon("flask-conical", size=16),
                    "Try the demo",
                    type="submit",
                    variant="outline",
                    width="100%",
                    id="try-demo",
                ),
                path="/auth/demo",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
    )


@public_page(route=routes.LOGIN, title="Sign in", on_load=LoginState.load)
def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("life-buoy", size=26, color=rx.color("accent", 10)),
                    rx.heading("Lead Recovery", size="6"),
                    align="center",
                    spacing="2",
                ),
                rx.cond(
                    LoginState.message != "",
                    rx.callout(
                        LoginState.message,
                        icon=rx.cond(LoginState.is_error, "triangle-alert", "info"),
                        color_scheme=rx.cond(LoginState.is_error, "red", "gray"),
                        width="100%",
                        id="login-message",
                    ),
                ),
                post_form(
                    rx.vstack(
                        rx.text("Email", size="2", weight="medium"),
                        rx.input(
                            name="email",
                            type="email",
                            required=True,
                            max_length=254,
                            auto_complete="username",
                            width="100%",
                            id="login-email",
                        ),
                        rx.text("Password", size="2", weight="medium"),
                        rx.input(
                            name="password",
                            type="password",
                            required=True,
                            max_length=1024,
                            auto_complete="current-password",
                            width="100%",
                            id="login-password",
                        ),
                        rx.el.input(type="hidden", name="next", value=LoginState.next_path),
                        rx.button("Sign in", type="submit", width="100%", id="login-submit"),
                        spacing="2",
                        width="100%",
                    ),
                    path="/auth/login",
                    width="100%",
                ),
                _demo_entry(),
                spacing="4",
                width="100%",
            ),
            width="24rem",
            size="3",
        ),
        height="100vh",
        background=rx.color("gray", 2),
    )
