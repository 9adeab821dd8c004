"""The campaign wizard's step cards: the sequence (channel, wait, condition, order) and each
step's message (template, subject, text, variables, AI draft) beside its live preview, SMS
segment counter and opt-out / unsubscribe checks."""

import reflex as rx

from recovery_app.components.wizard_fields import inline_error
from recovery_app.states.campaign_views import CONDITIONS, NONE, VARIABLES, StepView
from recovery_app.states.campaign_wizard import CampaignWizardState as S

UNITS = ("minutes", "hours", "days")


# 2. Channels and steps -------------------------------------------------------------------------


def _step_header(view: StepView) -> rx.Component:
    return rx.hstack(
        rx.badge("Step ", view["number"].to_string(), size="2", variant="soft"),
        rx.icon(rx.cond(view["channel"] == "sms", "message-square", "mail"), size=16),
        rx.text(view["channel_label"], weight="medium"),
        rx.text(view["when"], size="1", color_scheme="gray"),
        rx.spacer(),
        rx.icon_button(
            rx.icon("arrow-up", size=14),
            variant="ghost",
            disabled=view["index"] == 0,
            on_click=S.move_step(view["index"], -1),
            aria_label="Move step " + view["number"].to_string() + " up",
            class_name="step-up",
        ),
        rx.icon_button(
            rx.icon("arrow-down", size=14),
            variant="ghost",
            disabled=view["index"] == S.steps.length() - 1,
            on_click=S.move_step(view["index"], 1),
            aria_label="Move step " + view["number"].to_string() + " down",
            class_name="step-down",
        ),
        rx.icon_button(
            rx.icon("trash-2", size=14),
            variant="ghost",
            color_scheme="red",
            on_click=S.remove_step(view["index"]),
            aria_label="Remove step " + view["number"].to_string(),
            class_name="step-remove",
        ),
        align="center",
        spacing="2",
        width="100%",
        wrap="wrap",
    )


def _step_id(view: StepView, part: str) -> rx.Var:
    return "step-" + view["index"].to_string() + "-" + part


def _plan_card(view: StepView) -> rx.Component:
    return rx.card(
        rx.vstack(
            _step_header(view),
            rx.flex(
                rx.select.root(
                    rx.select.trigger(id=_step_id(view, "channel"), aria_label="Channel"),
                    rx.select.content(
                        rx.select.item("Text", value="sms"), rx.select.item("Email", value="email")
                    ),
                    value=view["channel"],
                    on_change=lambda v: S.set_step(view["index"], "channel", v),
                ),
                rx.text("wait", size="2"),
                rx.input(
                    value=view["delay"],
                    on_change=lambda v: S.set_step(view["index"], "delay", v),
                    type="number",
                    min=0,
                    width="5rem",
                    aria_label="Wait",
                    id=_step_id(view, "delay"),
                    color_scheme=rx.cond(view["error_delay"] != "", "red", "gray"),
                ),
                rx.select.root(
                    rx.select.trigger(id=_step_id(view, "unit"), aria_label="Unit"),
                    rx.select.content(*(rx.select.item(u, value=u) for u in UNITS)),
                    value=view["delay_unit"],
                    on_change=lambda v: S.set_step(view["index"], "delay_unit", v),
                ),
                rx.text(
                    rx.cond(view["index"] == 0, "after enrollment", "after the previous step"),
                    size="2",
                ),
                rx.cond(
                    view["index"] > 0,
                    rx.select.root(
                        rx.select.trigger(id=_step_id(view, "condition"), aria_label="Condition"),
                        rx.select.content(
                            *(
                                rx.select.item(label, value=key or NONE)
                                for key, label in CONDITIONS.items()
                            )
                        ),
                        value=view["condition"],
                        on_change=lambda v: S.set_step(view["index"], "condition", v),
                    ),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            inline_error(view["error_channel"]),
            inline_error(view["error_delay"]),
            inline_error(view["error_condition"]),
            # The texts are written on the next stage; a problem with them still shows here.
            inline_error(rx.cond(view["error_body"] != "", "Message: " + view["error_body"], "")),
            inline_error(
                rx.cond(view["error_subject"] != "", "Subject: " + view["error_subject"], "")
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="step-card",
    )


def steps_stage() -> rx.Component:
    return rx.vstack(
        rx.text(
            "The sequence every enrolled lead goes through. A reply, an opt-out or a deal stops "
            "it at once; a step for a channel the lead cannot get is skipped.",
            size="2",
            color_scheme="gray",
        ),
        rx.foreach(S.step_views, _plan_card),
        rx.cond(
            S.steps.length() == 0,
            rx.callout("No steps yet: add a text or an email.", icon="info", id="steps-empty"),
        ),
        rx.hstack(
            rx.button(
                rx.icon("message-square-plus", size=14),
                "Add a text",
                variant="soft",
                on_click=S.add_step("sms"),
                id="add-sms",
                type="button",
            ),
            rx.button(
                rx.icon("mail-plus", size=14),
                "Add an email",
                variant="soft",
                on_click=S.add_step("email"),
                id="add-email",
                type="button",
            ),
            spacing="3",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )


# 3. Messages -----------------------------------------------------------------------------------


def _template_picker(view: StepView) -> rx.Component:
    def items(choices) -> rx.Component:
        return rx.foreach(choices, lambda t: rx.select.item(t["label"], value=t["value"]))

    return rx.select.root(
        rx.select.trigger(
            placeholder="Start from a template", id=_step_id(view, "template"), width="100%"
        ),
        rx.select.content(
            rx.select.item("Written here", value=NONE),
            rx.cond(view["channel"] == "sms", items(S.sms_templates), items(S.email_templates)),
        ),
        value=view["template_id"],
        on_change=lambda v: S.pick_template(view["index"], v),
    )


def _check_line(icon: str, text: str, color: str, element_id: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=12, flex_shrink="0", color=rx.color(color, 11)),
        rx.text(text, size="1", color_scheme=color),
        spacing="1",
        align="center",
        id=element_id,
    )


def _preview(view: StepView) -> rx.Component:
    return rx.vstack(
        rx.text("Preview", size="1", weight="medium", color_scheme="gray"),
        rx.box(
            rx.cond(
                view["channel"] == "email",
                rx.text(view["preview_subject"], weight="bold", size="2"),
            ),
            # Plain text: lead names and AI text are never read as markup.
            rx.text(view["preview_body"], size="2", white_space="pre-wrap"),
            padding="0.75rem",
            border_radius="var(--radius-3)",
            background=rx.color("gray", 2),
            width="100%",
            id=_step_id(view, "preview"),
        ),
        rx.cond(
            view["channel"] == "sms",
            rx.vstack(
                rx.text(
                    view["counter"],
                    size="1",
                    color_scheme=rx.cond(view["too_long"], "red", "gray"),
                    id=_step_id(view, "segments"),
                ),
                rx.cond(
                    view["opt_out"],
                    _check_line(
                        "check",
                        'Opt-out wording ("Reply STOP") is in',
                        "green",
                        _step_id(view, "optout"),
                    ),
                    _check_line(
                        "triangle-alert",
                        'No opt-out wording: add "Reply STOP to opt out."',
                        "amber",
                        _step_id(view, "optout"),
                    ),
                ),
                spacing="1",
            ),
            _check_line(
                "check",
                "A one-click unsubscribe link and the office's postal address are added to the "
                "footer",
                "gray",
                _step_id(view, "unsubscribe"),
            ),
        ),
        rx.cond(
            view["fair_housing"] != "",
            rx.text("Fair Housing risk: ", view["fair_housing"], size="1", color_scheme="red"),
        ),
        spacing="1",
        width="100%",
    )


def _message_card(view: StepView) -> rx.Component:
    drafting = S.drafting_key == view["key"]
    editor = rx.vstack(
        _template_picker(view),
        inline_error(view["error_template"]),
        rx.cond(
            view["channel"] == "email",
            rx.vstack(
                rx.input(
                    value=view["subject"],
                    on_change=lambda v: S.set_step(view["index"], "subject", v),
                    placeholder="Subject",
                    aria_label="Subject",
                    id=_step_id(view, "subject"),
                    width="100%",
                    color_scheme=rx.cond(view["error_subject"] != "", "red", "gray"),
                ),
                inline_error(view["error_subject"]),
                spacing="1",
                width="100%",
            ),
        ),
        rx.text_area(
            value=view["body"],
            on_change=lambda v: S.set_step(view["index"], "body", v),
            rows="6",
            aria_label="Message",
            id=_step_id(view, "body"),
            width="100%",
            color_scheme=rx.cond(view["error_body"] != "", "red", "gray"),
        ),
        inline_error(view["error_body"]),
        rx.flex(
            *(
                rx.button(
                    "{{" + name + "}}",
                    size="1",
                    variant="ghost",
                    on_click=S.insert_variable(view["index"], name),
                    type="button",
                    aria_label=f"Insert {name}",
                )
                for name in VARIABLES
            ),
            spacing="1",
            wrap="wrap",
        ),
        rx.flex(
            rx.button(
                rx.icon("sparkles", size=14),
                "Draft with AI",
                variant="soft",
                loading=drafting,
                disabled=S.drafting_key != -1,
                on_click=S.draft_with_ai(view["index"]),
                id=_step_id(view, "ai"),
                type="button",
            ),
            rx.hstack(
                rx.switch(
                    checked=view["ai_personalize"],
                    on_change=lambda v: S.set_step_ai(view["index"], v),
                    id=_step_id(view, "personalize"),
                    aria_label="Personalize per lead group with AI when sending",
                ),
                rx.text("Personalize per lead group with AI when sending", size="2"),
                align="center",
                spacing="2",
            ),
            spacing="3",
            wrap="wrap",
            align="center",
        ),
        rx.cond(
            view["note"] != "",
            rx.text(view["note"], size="1", color_scheme="gray", id=_step_id(view, "note")),
        ),
        spacing="2",
        width="100%",
    )
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.badge("Step ", view["number"].to_string(), size="2", variant="soft"),
                rx.text(view["channel_label"], weight="medium"),
                rx.text(view["when"], size="1", color_scheme="gray"),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.grid(
                editor,
                _preview(view),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        class_name="message-card",
    )


def messages_stage() -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.text("Preview for", size="2"),
            rx.cond(
                S.sample.length() > 0,
                rx.select.root(
                    rx.select.trigger(id="preview-lead", aria_label="Preview for"),
                    rx.select.content(
                        rx.foreach(
                            S.sample, lambda r: rx.select.item(r["name"], value=r["id"].to_string())
                        )
                    ),
                    value=S.preview_lead,
                    on_change=S.set_preview_lead,
                ),
                rx.text(
                    "an example lead (nobody matches the audience yet)",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            rx.text(
                '- a lead of the audience; an empty variable reads naturally ("Hi there").',
                size="1",
                color_scheme="gray",
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.foreach(S.step_views, _message_card),
        spacing="3",
        width="100%",
    )
