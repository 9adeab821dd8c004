"""The card every outbound integration has in Settings -> Office (Slack, Apollo, GoHighLevel):
state badge, where it points, last success, last error, the integration's own form fields,
Save and Test connection, and the test's answer word for word. `state` is a State class that
mixes in IntegrationCardState; element ids start with `prefix` (e.g. "slack-state")."""

from typing import Any

import reflex as rx


def field_problem(state: Any, name: str) -> rx.Component:
    return rx.cond(
        state.problems.contains(name),
        rx.text(state.problems[name], size="1", color_scheme="red"),
    )


def secret_input(
    name: str, *, input_id: str, label: str, placeholder: str, **props
) -> rx.Component:
    """A credential field: never filled back (a saved secret is only shown masked)."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=input_id),
        rx.input(
            name=name,
            id=input_id,
            placeholder=placeholder,
            aria_label=label,
            auto_complete="off",
            width="100%",
            **props,
        ),
        spacing="1",
        width="100%",
    )


def _answer(state: Any, prefix: str, ok: bool) -> rx.Component:
    return rx.callout(
        state.test_answer,
        icon="check" if ok else "triangle-alert",
        color_scheme="green" if ok else "red",
        id=f"{prefix}-test-answer",
    )


def integration_card(
    state: Any,
    *,
    prefix: str,
    title: str,
    description: str,
    fields: list[rx.Component],
    test_label: str = "Test connection",
    below: list[rx.Component] | None = None,
    card_id: str,
) -> rx.Component:
    card = state.card
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(title, size="3"),
                rx.match(
                    card["state"],
                    ("ok", rx.badge(rx.icon("check", size=12), "OK", color_scheme="green")),
                    ("needs_attention", rx.badge("Needs attention", color_scheme="red")),
                    rx.badge("Off", color_scheme="gray"),
                ),
                rx.spacer(),
                rx.cond(card["waiting"] != "", rx.badge(card["waiting"], color_scheme="amber")),
                align="center",
                width="100%",
                wrap="wrap",
                id=f"{prefix}-state",
            ),
            rx.text(description, size="2", color_scheme="gray"),
            rx.text(card["where"], size="2", id=f"{prefix}-where"),
            rx.cond(
                card["usage"] != "",
                rx.text(card["usage"], size="1", color_scheme="gray", id=f"{prefix}-usage"),
            ),
            rx.text(card["last_ok"], size="1", color_scheme="gray", id=f"{prefix}-last-ok"),
            rx.cond(
                card["last_error"] != "",
                rx.callout(
                    "Last error: " + card["last_error"],
                    icon="triangle-alert",
                    color_scheme=rx.cond(card["state"] == "needs_attention", "red", "amber"),
                    size="1",
                    id=f"{prefix}-last-error",
                ),
            ),
            rx.form(
                rx.vstack(
                    *fields,
                    rx.hstack(
                        rx.button("Save", type="submit", loading=state.saving, id=f"{prefix}-save"),
                        rx.button(
                            test_label,
                            type="button",
                            variant="soft",
                            loading=state.testing,
                            on_click=state.test,
                            id=f"{prefix}-test",
                        ),
                        spacing="3",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=state.save,
                reset_on_submit=False,
                key=state.form_key,
                width="100%",
            ),
            rx.cond(
                state.test_answer != "",
                rx.cond(state.test_ok, _answer(state, prefix, True), _answer(state, prefix, False)),
            ),
            *(below or []),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id=card_id,
    )
