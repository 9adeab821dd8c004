"""One lead: contact, consent, score factors, recent timeline; managers can export or erase."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.badges import status_badge, temperature_badge
from recovery_app.components.layout import page
from recovery_app.pages.lead_sync import sync_log
from recovery_app.states.lead_detail import (
    FactorRow,
    LeadDetailState,
    MessageRow,
    SpeedRow,
    TimelineRow,
)
from recovery_app.states.lead_sync import LeadSyncState


def _field(label: str, value: rx.Var | str, **props) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color_scheme="gray", min_width="7rem", width="7rem"),
        rx.text(value, size="2", word_break="break-word", **props),
        align="start",
    )


def _consent(label: str, consent: rx.Var[bool], opted_out: rx.Var[str]) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color_scheme="gray", min_width="7rem", width="7rem"),
        rx.cond(
            opted_out != "",
            rx.badge(rx.icon("ban", size=12), "Opted out: ", opted_out, color_scheme="red"),
            rx.cond(
                consent,
                rx.badge(rx.icon("check", size=12), "Consented", color_scheme="green"),
                rx.badge("No consent recorded", color_scheme="gray"),
            ),
        ),
        align="center",
    )


def _gdpr_tools() -> rx.Component:
    return rx.cond(
        LeadDetailState.is_manager,
        rx.hstack(
            rx.button(
                rx.icon("download", size=14),
                "Export data (JSON)",
                variant="soft",
                on_click=LeadDetailState.export_data,
                id="export-lead",
            ),
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(
                    rx.button(
                        rx.icon("eraser", size=14),
                        "Erase lead",
                        color_scheme="red",
                        variant="soft",
                        id="erase-lead",
                    )
                ),
                rx.alert_dialog.content(
                    rx.alert_dialog.title("Erase this lead?"),
                    rx.alert_dialog.description(
                        "Names, phone, email, messages and form data are removed for good. The phone "
                        "and email stay on the suppression list (as hashes) so they are never messaged "
                        "again. Counts and revenue keep the anonymous record. This cannot be undone.",
                        size="2",
                    ),
                    rx.hstack(
                        rx.alert_dialog.cancel(
                            rx.button("Cancel", variant="soft", color_scheme="gray")
                        ),
                        rx.alert_dialog.action(
                            rx.button(
                                "Erase",
                                color_scheme="red",
                                on_click=LeadDetailState.erase,
                                id="confirm-erase",
                            )
                        ),
                        justify="end",
                        spacing="3",
                        margin_top="1rem",
                    ),
                ),
            ),
            spacing="3",
        ),
    )


def _recovery_tools() -> rx.Component:
    return rx.hstack(
        rx.button(
            rx.icon("send", size=14),
            "Send recovery message",
            variant="soft",
            on_click=LeadDetailState.send_recovery,
            id="send-recovery",
        ),
        rx.cond(
            LeadDetailState.campaign_choices.length() > 0,
            rx.select.root(
                rx.select.trigger(placeholder="Enroll in campaign", id="enroll-campaign"),
                rx.select.content(
                    rx.foreach(
                        LeadDetailState.campaign_choices,
                        lambda c: rx.select.item(c["label"], value=c["value"]),
                    )
                ),
                value="",
                on_change=LeadDetailState.enroll_in,
            ),
        ),
        spacing="3",
        wrap="wrap",
    )


def _factor(row: FactorRow) -> rx.Component:
    return rx.table.row(rx.table.cell(row["label"]), rx.table.cell(row["points"]))


def _speed(row: SpeedRow) -> rx.Component:
    return _field(row["label"], row["value"])


def _event(row: TimelineRow) -> rx.Component:
    return rx.hstack(
        rx.badge(row["kind"], variant="surface", min_width="8rem"),
        rx.text(row["when"], size="1", color_scheme="gray", min_width="6rem"),
        rx.text(row["text"], size="2"),
        align="start",
        spacing="3",
        width="100%",
    )


def _message(row: MessageRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.badge(row["channel"], variant="surface"), rx.text(row["direction"], size="1")
            )
        ),
        rx.table.cell(rx.badge(row["status"], variant="soft")),
        rx.table.cell(row["when"]),
        rx.table.cell(rx.text(row["body"], size="2")),
        rx.table.cell(rx.text(row["note"], size="1", color_scheme="amber")),
        class_name="message-row",
    )


REFRESH_MS = 3000
CALL_OUTCOMES = [
    ("connected", "Connected"),
    ("left_voicemail", "Left voicemail"),
    ("no_answer", "No answer"),
    ("wrong_number", "Wrong number"),
    ("booked_appointment", "Booked an appointment"),
]


def _composer() -> rx.Component:
    email = LeadDetailState.compose_channel == "email"
    return rx.grid(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Write to the lead", size="3"),
                    rx.spacer(),
                    rx.segmented_control.root(
                        rx.segmented_control.item("SMS", value="sms"),
                        rx.segmented_control.item("Email", value="email"),
                        value=LeadDetailState.compose_channel,
                        on_change=LeadDetailState.set_compose_channel,
                        id="compose-channel",
                    ),
                    width="100%",
                ),
                rx.cond(
                    email,
                    rx.input(
                        placeholder="Subject",
                        value=LeadDetailState.compose_subject,
                        on_change=LeadDetailState.set_compose_subject,
                        width="100%",
                        id="compose-subject",
                    ),
                ),
                rx.text_area(
                    value=LeadDetailState.compose_body,
                    on_change=LeadDetailState.set_compose_body,
                    placeholder="Your message",
                    rows="3",
                    width="100%",
                    id="compose-body",
                ),
                rx.hstack(
                    rx.button("Send", on_click=LeadDetailState.send_message, id="compose-send"),
                    rx.text(
                        LeadDetailState.compose_result,
                        size="2",
                        color_scheme=rx.cond(LeadDetailState.compose_blocked, "red", "gray"),
                        id="compose-result",
                    ),
                    align="center",
                ),
                spacing="2",
                width="100%",
            ),
        ),
        rx.card(
            rx.vstack(
                rx.heading("Note, call or deal", size="3"),
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="note", placeholder="Add a note", width="100%", id="note-text"
                        ),
                        rx.button("Save note", type="submit", variant="soft", id="note-save"),
                        width="100%",
                    ),
                    on_submit=LeadDetailState.add_note,
                    reset_on_submit=True,
                    width="100%",
                ),
                rx.form(
                    rx.hstack(
                        rx.select.root(
                            rx.select.trigger(placeholder="Call outcome", id="call-outcome"),
                            rx.select.content(
                                *(rx.select.item(label, value=v) for v, label in CALL_OUTCOMES)
                            ),
                            name="outcome",
                            default_value="connected",
                        ),
                        rx.input(
                            name="minutes", placeholder="min", width="4rem", id="call-minutes"
                        ),
                        rx.input(name="call_note", placeholder="What was said", width="100%"),
                        rx.button("Log call", type="submit", variant="soft", id="call-save"),
                        width="100%",
                    ),
                    on_submit=LeadDetailState.log_call,
                    reset_on_submit=True,
                    width="100%",
                ),
                # A deal closed: the lead converts and ROI counts its value.
                rx.cond(
                    LeadDetailState.status != "converted",
                    rx.form(
                        rx.hstack(
                            rx.input(
                                name="value",
                                placeholder="Deal value, $",
                                type="number",
                                min="0",
                                step="0.01",
                                width="9rem",
                                id="deal-value",
                                aria_label="Deal value in dollars",
                            ),
                            rx.input(
                                name="closed_on",
                                type="date",
                                width="10rem",
                                id="deal-date",
                                aria_label="Closed on (today when empty)",
                            ),
                            rx.button(
                                "Mark converted",
                                type="submit",
                                variant="soft",
                                color_scheme="jade",
                                id="deal-save",
                            ),
                            width="100%",
                            wrap="wrap",
                        ),
                        on_submit=LeadDetailState.record_deal,
                        reset_on_submit=True,
                        width="100%",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
    )


@page(
    route=routes.LEADS + "/[lead_id]",
    title="Lead",
    on_load=[LeadDetailState.load, LeadSyncState.load],
)
def lead_detail_page() -> rx.Component:
    back = rx.link(
        rx.hstack(rx.icon("arrow-left", size=14), "Leads", align="center"), href=routes.LEADS
    )
    return rx.cond(
        LeadDetailState.missing,
        rx.vstack(
            back,
            rx.callout(
                "No such lead - or it is another agent's. Leads you can open are on the "
                "Leads page.",
                icon="search_x",
                color_scheme="gray",
                id="lead-missing",
            ),
            spacing="4",
        ),
        _lead(back),
    )


def _lead(back: rx.Component) -> rx.Component:
    return rx.vstack(
        back,
        rx.hstack(
            rx.heading(LeadDetailState.lead_name, size="6", id="lead-title"),
            status_badge(LeadDetailState.status),
            temperature_badge(LeadDetailState.temperature),
            rx.badge(LeadDetailState.score.to_string(), " points", variant="outline"),
            rx.spacer(),
            rx.cond(
                LeadDetailState.claimable,
                rx.button(
                    rx.icon("hand", size=14),
                    "Claim",
                    on_click=LeadDetailState.claim,
                    id="claim-lead",
                ),
            ),
            _recovery_tools(),
            _gdpr_tools(),
            align="center",
            spacing="3",
            width="100%",
            wrap="wrap",
        ),
        rx.grid(
            rx.card(
                rx.vstack(
                    rx.heading("Contact", size="3"),
                    _field("Email", LeadDetailState.email),
                    _field("Phone", LeadDetailState.phone),
                    _field("Time zone", LeadDetailState.timezone),
                    _field("Source", LeadDetailState.source),
                    _field("Agent", LeadDetailState.agent, id="lead-agent"),
                    _field("Created", LeadDetailState.created),
                    _consent("SMS", LeadDetailState.consent_sms, LeadDetailState.opted_out_sms),
                    _consent(
                        "Email", LeadDetailState.consent_email, LeadDetailState.opted_out_email
                    ),
                    _field("First message", LeadDetailState.first_message),
                    rx.foreach(
                        LeadDetailState.enrichment,
                        lambda row, _i: _field(row["label"], row["value"]),
                    ),
                    rx.cond(
                        LeadDetailState.enrichment_note != "",
                        _field("Enrichment", LeadDetailState.enrichment_note, id="lead-enrichment"),
                    ),
                    rx.cond(
                        LeadDetailState.silence != "",
                        _field("Silent", LeadDetailState.silence, id="lead-silence"),
                    ),
                    rx.cond(
                        LeadDetailState.nurture != "",
                        _field("Nurture", LeadDetailState.nurture, id="lead-nurture"),
                    ),
                    spacing="2",
                )
            ),
            rx.card(
                rx.vstack(
                    rx.heading("Why this score", size="3"),
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Factor"),
                                rx.table.column_header_cell("Points"),
                            )
                        ),
                        rx.table.body(rx.foreach(LeadDetailState.factors, _factor)),
                        size="1",
                        width="100%",
                    ),
                    rx.plotly(data=LeadDetailState.score_trend, id="score-trend"),
                    rx.heading("Speed to lead", size="3", padding_top="0.5rem"),
                    rx.foreach(LeadDetailState.speed, _speed),
                    spacing="2",
                    id="speed-to-lead",
                )
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        # Replies and deliveries show up while the page is open: the timer asks whether the
        # conversation moved and the page reloads only then.
        rx.moment(interval=REFRESH_MS, on_change=LeadDetailState.refresh, display="none"),
        _composer(),
        rx.card(
            rx.vstack(
                rx.heading("Messages", size="3"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *(
                                rx.table.column_header_cell(h)
                                for h in ("", "Status", "When", "Text", "Why")
                            )
                        )
                    ),
                    rx.table.body(rx.foreach(LeadDetailState.messages, _message)),
                    size="1",
                    width="100%",
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
        ),
        sync_log(),
        rx.card(
            rx.vstack(
                rx.heading("Recent activity", size="3"),
                rx.foreach(LeadDetailState.timeline, _event),
                spacing="2",
                width="100%",
            ),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
