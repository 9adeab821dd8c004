"""Settings -> Office: the Lead enrichment (Apollo) card."""

import reflex as rx

from recovery_app.states.office_enrichment import OfficeEnrichmentState as E


def _problem(name: str) -> rx.Component:
    return rx.cond(
        E.enrichment_problems.contains(name),
        rx.text(E.enrichment_problems[name], size="1", color_scheme="red"),
    )


def _answer(ok: bool) -> rx.Component:
    return rx.callout(
        E.enrichment_test_answer,
        icon="check" if ok else "triangle-alert",
        color_scheme="green" if ok else "red",
        id="apollo-test-answer",
    )


def enrichment_section() -> rx.Component:
    row = E.enrichment
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Lead enrichment (Apollo)", size="3"),
                rx.match(
                    row["state"],
                    ("ok", rx.badge(rx.icon("check", size=12), "OK", color_scheme="green")),
                    ("needs_attention", rx.badge("Needs attention", color_scheme="red")),
                    rx.badge("Off", color_scheme="gray"),
                ),
                rx.spacer(),
                rx.cond(
                    row["pending"] > 0,
                    rx.badge(row["pending"].to_string(), " leads waiting", color_scheme="amber"),
                ),
                align="center",
                width="100%",
                wrap="wrap",
                id="apollo-state",
            ),
            rx.text(
                "New leads with an email or phone are looked up in Apollo: job title, company, "
                "seniority, location, time zone and LinkedIn profile go on the lead (a "
                "decision-maker scores higher; the time zone is used for quiet hours when the "
                "lead gave none). Each lookup uses an Apollo credit; answers are reused for 30 "
                "days.",
                size="2",
                color_scheme="gray",
            ),
            rx.text(row["where"], size="2", id="apollo-where"),
            rx.text(row["usage"], size="1", color_scheme="gray", id="apollo-usage"),
            rx.text(row["last_ok"], size="1", color_scheme="gray", id="apollo-last-ok"),
            rx.cond(
                row["last_error"] != "",
                rx.callout(
                    "Last error: " + row["last_error"],
                    icon="triangle-alert",
                    color_scheme=rx.cond(row["state"] == "needs_attention", "red", "amber"),
                    size="1",
                    id="apollo-last-error",
                ),
            ),
            rx.form(
                rx.vstack(
                    rx.text(
                        "Apollo API key",
                        size="2",
                        weight="medium",
                        as_="label",
                        html_for="apollo-key",
                    ),
                    rx.input(
                        name="apollo_key",
                        id="apollo-key",
                        type="password",
                        placeholder="From Apollo -> Settings -> API keys (empty keeps the "
                        "current one)",
                        max_length=200,
                        auto_complete="off",
                        width="100%",
                    ),
                    _problem("apollo_key"),
                    rx.checkbox(
                        "Remove this office's key (the deployment's key applies, if any)",
                        name="apollo_remove",
                    ),
                    rx.checkbox(
                        "Enrich new leads",
                        name="apollo_enabled",
                        default_checked=row["enabled"],
                    ),
                    rx.text("Lookups per month (0 stops them)", size="2"),
                    rx.input(
                        name="monthly_budget",
                        type="number",
                        default_value=row["budget"],
                        aria_label="Apollo lookups per month",
                        width="8rem",
                    ),
                    _problem("monthly_budget"),
                    rx.hstack(
                        rx.button(
                            "Save", type="submit", loading=E.enrichment_saving, id="apollo-save"
                        ),
                        rx.button(
                            "Test connection",
                            type="button",
                            variant="soft",
                            loading=E.enrichment_testing,
                            on_click=E.test_enrichment,
                            id="apollo-test",
                        ),
                        spacing="3",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=E.save_enrichment,
                reset_on_submit=False,
                key=E.enrichment_form_key,
                width="100%",
            ),
            rx.cond(
                E.enrichment_test_answer != "",
                rx.cond(E.enrichment_test_ok, _answer(True), _answer(False)),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="integration-apollo",
    )
