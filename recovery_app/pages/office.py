"""Settings -> Office: the office profile, the integrations' status and Slack alerts."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.domain.accounts.office import DAYS
from recovery_app.models import Temperature
from recovery_app.pages.office_enrichment import enrichment_section
from recovery_app.states.office import IntegrationRow, SlackEventRow, UrlRow
from recovery_app.states.office import OfficeState as S
from recovery_app.states.office_enrichment import OfficeEnrichmentState as E

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
                rx.callout(
                    rx.vstack(rx.foreach(S.problem_list, rx.text), spacing="1"),
                    icon="triangle-alert",
                    color_scheme="red",
                    id="office-problems",
                ),
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


def _slack_problem(name: str) -> rx.Component:
    return rx.cond(
        S.slack_problems.contains(name),
        rx.text(S.slack_problems[name], size="1", color_scheme="red"),
    )


def _slack_event(row: SlackEventRow) -> rx.Component:
    return rx.checkbox(
        row["label"], name="event_" + row["key"], default_checked=row["on"], size="2"
    )


def slack_section() -> rx.Component:
    slack = S.slack
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Slack alerts", size="3"),
                rx.match(
                    slack["state"],
                    ("ok", rx.badge(rx.icon("check", size=12), "OK", color_scheme="green")),
                    ("needs_attention", rx.badge("Needs attention", color_scheme="red")),
                    rx.badge("Off", color_scheme="gray"),
                ),
                rx.spacer(),
                rx.cond(
                    slack["queued"] > 0,
                    rx.badge(slack["queued"].to_string(), " waiting to post", color_scheme="amber"),
                ),
                align="center",
                width="100%",
                wrap="wrap",
                id="slack-state",
            ),
            rx.text(
                "Hot new leads, hot leads nobody touched, replies waiting over 15 minutes, "
                "failing campaigns and provider outages, each with a link. Agents with their "
                "own webhook (Settings -> Team) also get the alerts about their leads.",
                size="2",
                color_scheme="gray",
            ),
            rx.text(slack["where"], size="2", id="slack-where"),
            rx.text(slack["last_ok"], size="1", color_scheme="gray", id="slack-last-ok"),
            rx.cond(
                slack["last_error"] != "",
                rx.callout(
                    "Last error: " + slack["last_error"],
                    icon="triangle-alert",
                    color_scheme=rx.cond(slack["state"] == "needs_attention", "red", "amber"),
                    size="1",
                    id="slack-last-error",
                ),
            ),
            rx.form(
                rx.vstack(
                    rx.text(
                        "Incoming webhook URL",
                        size="2",
                        weight="medium",
                        as_="label",
                        html_for="slack-url",
                    ),
                    rx.input(
                        name="slack_url",
                        id="slack-url",
                        type="url",
                        placeholder="https://hooks.slack.com/services/... (empty keeps the "
                        "current one)",
                        max_length=500,
                        aria_label="Slack incoming webhook URL",
                        width="100%",
                    ),
                    _slack_problem("slack_url"),
                    rx.checkbox(
                        "Remove this office's URL (the deployment's default applies, if any)",
                        name="slack_remove",
                    ),
                    rx.checkbox(
                        "Post alerts to Slack",
                        name="slack_enabled",
                        default_checked=slack["enabled"],
                    ),
                    rx.vstack(
                        rx.text("Alert when", size="2", weight="medium"),
                        rx.foreach(S.slack_events, _slack_event),
                        spacing="1",
                        role="group",
                        aria_label="Alert when",
                    ),
                    _slack_problem("slack_events"),
                    rx.hstack(
                        rx.vstack(
                            rx.text("Failure threshold (%)", size="2"),
                            rx.input(
                                name="failure_percent",
                                type="number",
                                default_value=slack["failure_percent"],
                                aria_label="Campaign failure threshold in percent",
                                width="8rem",
                            ),
                            _slack_problem("failure_percent"),
                            spacing="1",
                        ),
                        rx.vstack(
                            rx.text("Out of at least (sends in the last hour)", size="2"),
                            rx.input(
                                name="failure_min",
                                type="number",
                                default_value=slack["failure_min"],
                                aria_label="Minimum sends before the failure rate counts",
                                width="8rem",
                            ),
                            _slack_problem("failure_min"),
                            spacing="1",
                        ),
                        spacing="4",
                        wrap="wrap",
                    ),
                    rx.hstack(
                        rx.button("Save", type="submit", loading=S.slack_saving, id="slack-save"),
                        rx.button(
                            "Send test message",
                            type="button",
                            variant="soft",
                            loading=S.slack_testing,
                            on_click=S.test_slack,
                            id="slack-test",
                        ),
                        spacing="3",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.save_slack,
                reset_on_submit=False,
                key=S.form_key,
                width="100%",
            ),
            rx.cond(
                S.slack_test_answer != "",
                rx.cond(
                    S.slack_test_ok,
                    rx.callout(
                        S.slack_test_answer,
                        icon="check",
                        color_scheme="green",
                        id="slack-test-answer",
                    ),
                    rx.callout(
                        S.slack_test_answer,
                        icon="triangle-alert",
                        color_scheme="red",
                        id="slack-test-answer",
                    ),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="integration-slack",
    )


@page(route=routes.OFFICE, title="Office settings", on_load=[S.load, E.load])
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
        spacing="4",
        max_width="64rem",
        width="100%",
    )
