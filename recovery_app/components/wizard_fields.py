"""Form pieces the campaign wizard's stages share: field errors, labels, cards and chips."""

import reflex as rx

from recovery_app.states.campaign_wizard import CampaignWizardState as S


def field_error(key: str) -> rx.Component:
    return rx.cond(
        S.errors.contains(key),
        rx.text(S.errors[key], size="1", color_scheme="red", class_name="field-error"),
    )


def inline_error(message: rx.Var) -> rx.Component:
    return rx.cond(
        message != "", rx.text(message, size="1", color_scheme="red", class_name="field-error")
    )


def field_label(text: str, html_for: str = "") -> rx.Component:
    return rx.text(text, size="2", weight="medium", as_="label", html_for=html_for or None)


def card(title: str, *children: rx.Component, **props) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="3"), *children, spacing="3", width="100%"),
        width="100%",
        **props,
    )


def chip(key: str, value, label, selected: rx.Var, element_id) -> rx.Component:
    """One choice of the audience rule builder, on or off (`toggle_rule(key, value)`)."""
    return rx.button(
        label,
        size="1",
        radius="full",
        variant=rx.cond(selected, "solid", "outline"),
        on_click=S.toggle_rule(key, value),
        aria_pressed=rx.cond(selected, "true", "false"),
        id=element_id,
        type="button",
    )


def chips(*items: rx.Component) -> rx.Component:
    return rx.flex(*items, spacing="2", wrap="wrap")
