"""Settings -> Office: the Lead enrichment (Apollo) card."""

import reflex as rx

from recovery_app.components.integration_card import field_problem, integration_card, secret_input
from recovery_app.states.office_enrichment import OfficeEnrichmentState as E


def enrichment_section() -> rx.Component:
    return integration_card(
        E,
        prefix="apollo",
        title="Lead enrichment (Apollo)",
        description=(
            "New leads with an email or phone are looked up in Apollo: job title, company, "
            "seniority, location, time zone and LinkedIn profile go on the lead (a "
            "decision-maker scores higher; the time zone is used for quiet hours when the "
            "lead gave none). Each lookup uses an Apollo credit; answers are reused for 30 "
            "days."
        ),
        fields=[
            secret_input(
                "apollo_key",
                input_id="apollo-key",
                label="Apollo API key",
                placeholder="From Apollo -> Settings -> API keys (empty keeps the current one)",
                type="password",
                max_length=200,
            ),
            field_problem(E, "apollo_key"),
            rx.checkbox(
                "Remove this office's key (the deployment's key applies, if any)",
                name="apollo_remove",
            ),
            rx.checkbox(
                "Enrich new leads", name="apollo_enabled", default_checked=E.card["enabled"]
            ),
            rx.text("Lookups per month (0 stops them)", size="2"),
            rx.input(
                name="monthly_budget",
                type="number",
                default_value=E.budget,
                aria_label="Apollo lookups per month",
                width="8rem",
            ),
            field_problem(E, "monthly_budget"),
        ],
        card_id="integration-apollo",
    )
