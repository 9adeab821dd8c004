"""Settings -> Lead handling (managers): who gets new leads, what they get first, how they
are scored."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.domain.leads.handling import SOURCES
from recovery_app.states.lead_handling import ALL_SOURCES, LeadHandlingState, QualityRow, WeightRow

S = LeadHandlingState


def _error(errors: rx.Var, name: str) -> rx.Component:
    return rx.cond(
        errors.contains(name),
        rx.text(errors[name], size="1", color_scheme="red", class_name="field-error"),
    )


def _labelled(label: str, control: rx.Component, errors: rx.Var, name: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium"), control, _error(errors, name), spacing="1"
    )


def _whole_number(label: str, name: str, most: int, element_id: str) -> rx.Component:
    value = getattr(S, name)
    return _labelled(
        label,
        rx.input(
            name=name,
            type="number",
            min=1,
            max=most,
            default_value=value,
            key=value,  # a new value from the server re-renders the uncontrolled input
            id=element_id,
            aria_label=label,
        ),
        S.routing_errors,
        name,
    )


def _routing_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Routing", size="4"),
                rx.text(
                    "Round-robin goes to the next active agent inside working hours and under "
                    "capacity, preferring a specialty match and, for hot leads, the fastest "
                    "responders. First-to-claim offers the lead to three such agents; the "
                    "first to claim it wins, and after the claim window it falls back to "
                    "round-robin.",
                    size="2",
                    color_scheme="gray",
                ),
                _labelled(
                    "Mode",
                    rx.radio_group.root(
                        rx.hstack(
                            rx.radio_group.item(
                                value="round_robin", id="mode-round-robin", aria_label="Round-robin"
                            ),
                            rx.text("Round-robin", size="2"),
                            rx.radio_group.item(
                                value="first_to_claim",
                                id="mode-first-to-claim",
                                aria_label="First to claim",
                            ),
                            rx.text("First to claim", size="2"),
                            spacing="2",
                            align="center",
                        ),
                        value=S.routing_mode,
                        on_change=S.set_routing_mode,
                        name="routing_mode",
                    ),
                    S.routing_errors,
                    "routing_mode",
                ),
                rx.hstack(
                    _whole_number(
                        "Claim window (minutes)", "claim_window_minutes", 1440, "claim-window"
                    ),
                    _whole_number(
                        "Escalate untouched hot leads after (hours)",
                        "escalate_after_hours",
                        720,
                        "escalate-hours",
                    ),
                    spacing="5",
                    wrap="wrap",
                ),
                rx.text("Agents always get an in-app notification. Also tell them by:", size="2"),
                rx.hstack(
                    rx.checkbox(
                        "Text message",
                        name="notify_agents_sms",
                        default_checked=S.notify_agents_sms,
                        key=S.notify_agents_sms.to_string(),
                    ),
                    rx.checkbox(
                        "Email",
                        name="notify_agents_email",
                        default_checked=S.notify_agents_email,
                        key=S.notify_agents_email.to_string(),
                    ),
                    spacing="5",
                ),
                rx.hstack(
                    rx.button("Save routing", type="submit", id="save-routing"),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=S.save_routing,
            reset_on_submit=False,
        ),
        width="100%",
    )


def _template_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("First response", size="4"),
            rx.text(
                "What a new lead gets within seconds, by text and by email (through the "
                "compliance guard: outside quiet hours the text waits for the morning). "
                "Variables: {{first_name}}, {{agent_name}}, {{agent_first_name}}, "
                "{{company_name}}, {{property_interest}}, {{city}}, {{booking_link}} (the "
                "agent's scheduling page, empty when they have none); an empty one reads "
                'naturally ("Hi there").',
                size="2",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(id="template-source"),
                    rx.select.content(
                        rx.select.item("Every source (default)", value=ALL_SOURCES),
                        *(rx.select.item(s.replace("_", " "), value=s) for s in SOURCES),
                    ),
                    value=S.source,
                    on_change=S.pick_source,
                ),
                rx.segmented_control.root(
                    rx.segmented_control.item("Text", value="sms"),
                    rx.segmented_control.item("Email", value="email"),
                    value=S.channel,
                    on_change=S.pick_channel,
                    id="template-channel",
                ),
                spacing="3",
            ),
            rx.callout(S.origin_text, icon="info", size="1", id="template-origin"),
            rx.cond(
                S.channel == "email",
                _labelled(
                    "Subject",
                    rx.input(
                        value=S.subject,
                        on_change=S.set_subject,
                        id="template-subject",
                        width="100%",
                    ),
                    S.template_errors,
                    "subject",
                ),
            ),
            _labelled(
                "Message",
                rx.text_area(
                    value=S.body, on_change=S.set_body, rows="6", id="template-body", width="100%"
                ),
                S.template_errors,
                "body",
            ),
            rx.text("Preview with long names filled in", size="1", color_scheme="gray"),
            rx.box(
                rx.text(S.preview, size="2", white_space="pre-wrap", id="template-preview"),
                padding="0.75rem",
                border_radius="var(--radius-3)",
                background=rx.color("gray", 2),
                width="100%",
            ),
            rx.text(S.segments, size="1", color_scheme="gray", id="template-segments"),
            rx.hstack(
                rx.cond(
                    S.origin == "own",
                    rx.button(
                        "Use the inherited template",
                        variant="soft",
                        color_scheme="gray",
                        on_click=S.reset_template,
                        id="reset-template",
                    ),
                ),
                rx.button("Save template", on_click=S.save_template, id="save-template"),
                justify="end",
                width="100%",
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _weight_row(row: WeightRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["label"], size="2")),
        rx.table.cell(
            rx.input(
                name="w_" + row["factor"],
                aria_label="Weight: " + row["label"],
                default_value=row["value"],
                key=row["factor"] + row["value"],
                type="number",
                step="0.5",
                min=-100,
                max=100,
                width="6rem",
                size="1",
            ),
            _error(S.weight_errors, row["factor"]),
        ),
        rx.table.cell(rx.text(row["default"], size="2", color_scheme="gray")),
    )


def _quality_row(row: QualityRow) -> rx.Component:
    return rx.hstack(
        rx.text(row["source"], size="2", width="8rem"),
        rx.input(
            name="q_" + row["source"],
            aria_label="Source quality: " + row["source"],
            default_value=row["value"],
            key=row["source"] + row["value"],
            type="number",
            step="0.05",
            min=0,
            max=1,
            width="6rem",
            size="1",
        ),
        _error(S.weight_errors, row["source"]),
        align="center",
    )


def _weights_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Scoring weights", size="4"),
                rx.text(
                    "Each factor is worth up to this many points (negative ones take points "
                    "away); the score is their sum, from 0 to 100: hot at 70, warm from 40. "
                    "Saving rescores every open lead now.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.text(S.calibration, size="2", id="calibration"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Factor"),
                            rx.table.column_header_cell("Points"),
                            rx.table.column_header_cell("Default"),
                        )
                    ),
                    rx.table.body(rx.foreach(S.weights, _weight_row)),
                    size="1",
                    width="100%",
                ),
                rx.text(
                    "Source quality (0 to 1, times the source weight)", size="2", weight="medium"
                ),
                rx.foreach(S.quality, _quality_row),
                rx.hstack(
                    rx.button(
                        "Restore defaults",
                        type="button",
                        variant="soft",
                        color_scheme="gray",
                        on_click=S.reset_weights,
                        id="reset-weights",
                    ),
                    rx.button("Save weights", type="submit", id="save-weights"),
                    justify="end",
                    width="100%",
                    spacing="3",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=S.save_weights,
            reset_on_submit=False,
        ),
        width="100%",
    )


@page(route=routes.LEAD_HANDLING, title="Lead handling", on_load=S.load)
def lead_handling_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link("Settings", href=routes.SETTINGS, size="2"),
            rx.text("/", size="2", color_scheme="gray"),
            rx.heading("Lead handling", size="6"),
            align="center",
            spacing="2",
        ),
        _routing_card(),
        _template_card(),
        _weights_card(),
        spacing="4",
        max_width="52rem",
        width="100%",
    )
