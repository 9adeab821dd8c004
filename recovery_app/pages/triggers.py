"""Settings > Behavioral triggers (managers): rules that adapt the nurture to what a lead does."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.states.triggers import RuleRow, TriggersState

EVENTS = [
    ("email_open", "Opens emails"),
    ("email_click", "Clicks a link"),
    ("reply_keywords", "Reply mentions words"),
    ("form_resubmitted", "Sends a form again"),
    ("no_open", "No open on several emails"),
]
ACTIONS = [
    ("raise_score", "Raise the score"),
    ("mark_hot", "Mark hot"),
    ("alert_agent", "Alert the agent"),
    ("move_campaign", "Move to another campaign"),
    ("pause_nurture", "Pause the nurture"),
]


def _field(label: str, control: rx.Component) -> rx.Component:
    # A <label> around text and control names the control for screen readers.
    return rx.el.label(rx.vstack(rx.text(label, size="2"), control, spacing="1"))


def _select(items: list[tuple[str, str]], value, on_change, id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=id),
        rx.select.content(*(rx.select.item(label, value=v) for v, label in items)),
        value=value,
        on_change=on_change,
    )


def _rule_form() -> rx.Component:
    event, action = TriggersState.event, TriggersState.action
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Add a rule", size="3"),
                rx.hstack(
                    _field(
                        "Name",
                        rx.input(name="name", max_length=120, required=True, id="rule-name"),
                    ),
                    _field(
                        "When the lead",
                        _select(EVENTS, event, TriggersState.set_event, "rule-event"),
                    ),
                    _field(
                        rx.cond(event == "no_open", "Emails", "At least (times)"),
                        rx.input(name="threshold", default_value="1", width="6rem"),
                    ),
                    _field(
                        "Within (hours)",
                        rx.input(name="window_hours", default_value="24", width="6rem"),
                    ),
                    wrap="wrap",
                    spacing="3",
                ),
                rx.cond(
                    event == "reply_keywords",
                    _field(
                        "Words, comma-separated (empty: tour, showing, pre-approved, offer)",
                        rx.input(name="keywords", width="100%"),
                    ),
                ),
                rx.hstack(
                    _field(
                        "Then", _select(ACTIONS, action, TriggersState.set_action, "rule-action")
                    ),
                    rx.match(
                        action,
                        (
                            "raise_score",
                            _field(
                                "Points", rx.input(name="points", default_value="10", width="6rem")
                            ),
                        ),
                        (
                            "alert_agent",
                            # Several checkboxes, each labelled by its own text: a group,
                            # not one <label> (that would name every box "By In app SMS...").
                            rx.vstack(
                                rx.text("By", size="2"),
                                rx.hstack(
                                    rx.checkbox(
                                        "In app", name="channel_in_app", default_checked=True
                                    ),
                                    rx.checkbox("SMS", name="channel_sms"),
                                    rx.checkbox("Email", name="channel_email"),
                                ),
                                spacing="1",
                                role="group",
                                aria_label="Alert by",
                            ),
                        ),
                        (
                            "move_campaign",
                            _field(
                                "Campaign",
                                rx.select.root(
                                    rx.select.trigger(placeholder="An active campaign"),
                                    rx.select.content(
                                        rx.foreach(
                                            TriggersState.campaign_choices,
                                            lambda c: rx.select.item(c["label"], value=c["value"]),
                                        )
                                    ),
                                    name="campaign_id",
                                ),
                            ),
                        ),
                        rx.fragment(),
                    ),
                    wrap="wrap",
                    spacing="3",
                    align="end",
                ),
                rx.button("Add rule", type="submit", id="rule-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=TriggersState.create,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _rule_row(rule: RuleRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.switch(
                checked=rule["enabled"],
                on_change=lambda on: TriggersState.set_enabled(rule["id"], on),
                aria_label="Rule on: " + rule["name"],
            )
        ),
        rx.table.cell(rx.text(rule["name"], weight="medium")),
        rx.table.cell(rx.text(rule["summary"], size="2")),
        rx.table.cell(
            rx.button(
                "Delete",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=TriggersState.delete(rule["id"]),
            )
        ),
        class_name="rule-row",
    )


@page(route=routes.TRIGGERS, title="Behavioral triggers", on_load=TriggersState.load)
def triggers_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Behavioral triggers", size="6"),
            rx.spacer(),
            rx.button(
                "Add starter rules",
                variant="soft",
                on_click=TriggersState.install_defaults,
                id="install-defaults",
            ),
            width="100%",
        ),
        rx.text(
            "Rules fire while the event is processed, at most once per lead in each window. "
            "Every firing is on the lead's timeline.",
            size="2",
            color_scheme="gray",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(rx.table.column_header_cell(h) for h in ("On", "Rule", "What it does", ""))
                )
            ),
            rx.table.body(rx.foreach(TriggersState.rules, _rule_row)),
            variant="surface",
            size="1",
            width="100%",
        ),
        _rule_form(),
        spacing="4",
        width="100%",
        max_width="64rem",
    )
