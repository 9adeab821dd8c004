"""Settings -> Office: the office profile, the integrations' status, and the cards of the
outbound integrations (Slack alerts, Apollo enrichment, GoHighLevel sync)."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.callouts import problems_callout
from recovery_app.components.layout import page
from recovery_app.domain.accounts.office import DAYS
from recovery_app.models import Temperature
from recovery_app.pages.office_enrichment import enrichment_section
from recovery_app.pages.office_ghl import ghl_section
from recovery_app.pages.office_slack import slack_section
from recovery_app.states.office import IntegrationRow, UrlRow
from recovery_app.states.office import OfficeState as S
from recovery_app.states.office_enrichment import OfficeEnrichmentState as E
from recovery_app.states.office_ghl import OfficeGhlState as G
from recovery_app.states.office_slack import OfficeSlackState as L

DAY_NAMES = dict(zip(DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))


def _input(name: str, label: str, hint: str = "", **props) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=f"office-{name}"),
        rx.input(
            name=name,
            default_value=S.values.get(name, ""),
            id=f"office-{name}",
            # Radix's text-as-label does not carry `for`, so the field names itself.
            aria_label=label,
            color_scheme=rx.cond(S.problems.contains(name), "red", "gray"),
            width="100%",
            **props,
        ),
        rx.cond(
            S.problems.contains(name),
            rx.text(S.problems[name], size="1", color_scheme="red"),
            rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment(),
        ),
        spacing="1",
        width="100%",
    )


def _section(title: str, text: str, *fields: rx.Component, columns: str = "2") -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="3"),
            rx.text(text, size="2", color_scheme="gray"),
            rx.grid(
                *fields,
                columns=rx.breakpoints(initial="1", sm=columns),
                spacing="3",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _hours_row(day: str) -> rx.Component:
    return rx.hstack(
        rx.text(DAY_NAMES[day], size="2", width="3rem"),
        rx.input(
            name=f"{day}_open",
            default_value=S.values.get(f"{day}_open", ""),
            placeholder="closed",
            width="6rem",
            aria_label=f"{DAY_NAMES[day]} opens",
            id=f"office-{day}_open",
        ),
        rx.text("-", size="2"),
        rx.input(
            name=f"{day}_close",
            default_value=S.values.get(f"{day}_close", ""),
            placeholder="closed",
            width="6rem",
            aria_label=f"{DAY_NAMES[day]} closes",
        ),
        rx.cond(
            S.problems.contains(f"{day}_open"),
            rx.text(S.problems[f"{day}_open"], size="1", color_scheme="red"),
        ),
        align="center",
        spacing="2",
    )


def profile_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _section(
                "Office",
                "Its name, and the time zone its leads fall back to when neither the lead nor "
                "the phone number says where they are.",
                _input("name", "Name"),
                _input("timezone", "Time zone", "An IANA name, e.g. America/Chicago"),
            ),
            _section(
                "Hours",
                "Marketing texts never go out before 08:00 or after 21:00 in the lead's time "
                "(the law's floor); quiet hours here can only narrow that. Business hours are "
                "when the office answers.",
                _input("quiet_hours_start", "Quiet from", "HH:MM"),
                _input("quiet_hours_end", "Quiet until", "HH:MM"),
                rx.vstack(*(_hours_row(day) for day in DAYS), spacing="2"),
            ),
            _section(
                "Sender",
                "Who texts and emails come from, and the postal address every marketing email "
                "must carry (CAN-SPAM).",
                _input("sender_phone", "Texting number", "E.164 or national, e.g. +1 512 555 0100"),
                _input("sender_email", "From address"),
                _input("sender_name", "From name"),
                rx.vstack(
                    rx.text("Postal address", size="2", weight="medium"),
                    rx.text_area(
                        name="postal_address",
                        default_value=S.values.get("postal_address", ""),
                        rows="3",
                        id="office-postal_address",
                        width="100%",
                    ),
                    spacing="1",
                    width="100%",
                ),
            ),
            _section(
                "Recovery and attribution",
                "How long without a reply makes a lead silent (per temperature if you like; "
                "empty means the default), and how long after a recovery message a sale counts "
                "as recovered.",
                _input("silence_threshold_hours", "Silent after (hours)", type="number"),
                *(
                    _input(
                        f"silence_{t.value}",
                        f"{t.value.capitalize()} leads (hours)",
                        "Default when empty",
                        type="number",
                    )
                    for t in Temperature
                ),
                _input("attribution_window_days", "Attribution window (days)", type="number"),
            ),
            _section(
                "Prices",
                "What each message and an agent's hour cost, in US dollars: message costs and "
                "ROI use them.",
                _input("sms_segment_usd", "Per SMS segment", step="0.0001", type="number"),
                _input("email_usd", "Per email", step="0.0001", type="number"),
                _input("agent_hourly_usd", "Agent's hour", step="0.01", type="number"),
                columns="3",
            ),
            rx.cond(
                S.problem_list.length() > 0,
                problems_callout(S.problem_list, id="office-problems"),
            ),
            rx.button("Save", type="submit", loading=S.saving, id="office-save"),
            spacing="4",
            width="100%",
        ),
        on_submit=S.save,
        reset_on_submit=False,
        key=S.form_key,
        width="100%",
    )


def _url(row: UrlRow) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(row["label"], size="1", color_scheme="gray"),
            rx.code(row["url"], size="2", class_name="webhook-url"),
            spacing="0",
        ),
        rx.icon_button(
            rx.icon("copy", size=14),
            variant="ghost",
            on_click=[rx.set_clipboard(row["url"]), rx.toast.info("Copied.")],
            aria_label="Copy " + row["label"],
        ),
        align="center",
        spacing="2",
    )


def _integration(row: IntegrationRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(row["name"], size="3"),
                rx.cond(
                    row["configured"],
                    rx.badge(rx.icon("check", size=12), "Configured", color_scheme="green"),
                    rx.badge("Not configured", color_scheme="gray"),
                ),
                rx.spacer(),
                rx.cond(
                    row["failures"] > 0,
                    rx.badge(
                        row["failures"].to_string(),
                        " refused signatures (7 d)",
                        color_scheme="red",
                    ),
                ),
                align="center",
                width="100%",
                wrap="wrap",
            ),
            rx.text(row["detail"], size="2", color_scheme="gray"),
            rx.foreach(row["urls"], _url),
            rx.text(row["last"], size="1", color_scheme="gray"),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="integration",
        id="integration-" + row["key"],
    )


@page(
    route=routes.OFFICE,
    title="Office settings",
    on_load=[S.load, L.load, E.load, G.load, G.watch_import],
)
def office_page() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), "Settings", align="center"),
            href=routes.SETTINGS,
        ),
        rx.heading("Office", size="6"),
        profile_form(),
        rx.heading("Integrations", size="5", padding_top="1rem"),
        rx.text(
            "Paste these addresses into each provider's console. Keys and secrets are set in "
            "the server's environment (see .env.example), never here.",
            size="2",
            color_scheme="gray",
        ),
        rx.foreach(S.integrations, _integration),
        slack_section(),
        enrichment_section(),
        ghl_section(),
        spacing="4",
        max_width="64rem",
        width="100%",
    )
