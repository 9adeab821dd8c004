"""Colored badges for lead status and temperature."""

import reflex as rx

STATUS_COLORS = {
    "new": "blue",
    "contacted": "cyan",
    "engaged": "green",
    "silent": "amber",
    "recovered": "grass",
    "converted": "jade",
    "lost": "gray",
}
TEMPERATURE_COLORS = {"hot": "tomato", "warm": "orange", "cold": "sky"}


def status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        radius="full",
    )


def temperature_badge(temperature: rx.Var[str]) -> rx.Component:
    return rx.badge(
        temperature,
        color_scheme=rx.match(temperature, *TEMPERATURE_COLORS.items(), "gray"),
        variant="surface",
        radius="full",
    )
