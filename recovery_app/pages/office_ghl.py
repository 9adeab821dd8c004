"""Settings -> Office: the GoHighLevel card (two-way sync, won stage, contact import)."""

import reflex as rx

from recovery_app.components.integration_card import field_problem, integration_card, secret_input
from recovery_app.states.office_ghl import OfficeGhlState as G
from recovery_app.states.office_ghl import StageOption


def _stage(option: StageOption) -> rx.Component:
    return rx.select.item(option["label"], value=option["value"])


def _import() -> rx.Component:
    return rx.vstack(
        rx.divider(),
        rx.text("Import existing contacts", size="2", weight="medium"),
        rx.text(
            "Reads every contact of the sub-account, page by page, into the leads (matched by "
            "phone or email: known people are merged, not doubled; nobody gets a first "
            "response). Safe to run again.",
            size="1",
            color_scheme="gray",
        ),
        rx.hstack(
            rx.button(
                "Import contacts",
                variant="outline",
                on_click=G.start_import,
                disabled=G.importing,
                loading=G.importing,
                id="ghl-import",
            ),
            rx.cond(
                G.import_line != "", rx.text(G.import_line, size="2", id="ghl-import-progress")
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        spacing="2",
        width="100%",
    )


def ghl_section() -> rx.Component:
    return integration_card(
        G,
        prefix="ghl",
        title="GoHighLevel sync",
        description=(
            "Contacts and inbound messages come in through the workflow webhook above. With "
            "write-back on, each lead's status goes to its contact as a tag (recovery:silent, "
            "recovery:recovered ...), its score and temperature as the custom fields Recovery "
            "score and Recovery temperature, every recovery message and reply as a note, and a "
            "converted lead's opportunity to the won stage with the deal's value. The location "
            "id is the office's: " + G.location_id + "."
        ),
        fields=[
            secret_input(
                "ghl_token",
                input_id="ghl-token",
                label="Private Integration token (or OAuth access token)",
                placeholder="pit-... from Settings -> Private Integrations (empty keeps the "
                "current one)",
                type="password",
                max_length=2000,
            ),
            field_problem(G, "ghl_token"),
            rx.checkbox("Remove this office's token (the sync stops)", name="ghl_remove"),
            rx.checkbox(
                "Write back to GoHighLevel",
                name="ghl_enabled",
                default_checked=G.card["enabled"],
                id="ghl-enabled",
            ),
            rx.vstack(
                rx.text("When a lead converts, its opportunity goes to", size="2"),
                rx.select.root(
                    rx.select.trigger(placeholder="The first pipeline's won stage", id="ghl-stage"),
                    rx.select.content(
                        rx.select.item("The first pipeline's won stage", value="auto"),
                        rx.foreach(G.stages, _stage),
                    ),
                    name="won_stage",
                    default_value=rx.cond(G.won_stage == "", "auto", G.won_stage),
                ),
                rx.text(
                    "Test connection loads the location's pipelines into this list.",
                    size="1",
                    color_scheme="gray",
                ),
                field_problem(G, "won_stage"),
                spacing="1",
            ),
        ],
        below=[_import()],
        card_id="integration-ghl-sync",
    )
