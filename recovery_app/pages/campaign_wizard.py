"""The campaign wizard (managers): goal and audience, steps, messages, timing, review and launch.
Every stage is checked before "Next" and the draft is saved as the manager moves on."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.callouts import problems_callout
from recovery_app.components.campaign_steps import messages_stage, steps_stage
from recovery_app.components.campaign_timing import review_stage, timing_stage
from recovery_app.components.layout import page
from recovery_app.components.wizard_fields import card, chip, chips, field_error, field_label
from recovery_app.states.campaign_views import (
    GOALS,
    NONE,
    SILENT_FOR,
    STAGE_TITLES,
    STATUSES,
    TEMPERATURES,
    SampleRow,
)
from recovery_app.states.campaign_wizard import CampaignWizardState as S

# The stepper and the footer --------------------------------------------------------------------


def stepper() -> rx.Component:
    def stage(index: int, title: str) -> rx.Component:
        return rx.button(
            rx.text(str(index + 1), weight="bold"),
            rx.text(title, display=rx.breakpoints(initial="none", md="inline")),
            variant=rx.cond(S.stage == index, "solid", rx.cond(S.stage > index, "soft", "outline")),
            size="2",
            on_click=S.go_to(index),
            aria_label=f"Step {index + 1}: {title}",
            aria_current=rx.cond(S.stage == index, "step", "false"),
            id=f"wizard-stage-{index}",
            type="button",
        )

    return rx.flex(
        *(stage(i, title) for i, title in enumerate(STAGE_TITLES)),
        spacing="2",
        wrap="wrap",
        id="wizard-stepper",
    )


def footer() -> rx.Component:
    return rx.flex(
        rx.button(
            rx.icon("arrow-left", size=14),
            "Back",
            variant="soft",
            color_scheme="gray",
            disabled=S.stage == 0,
            on_click=S.go_back,
            id="wizard-back",
            type="button",
        ),
        rx.text(S.saved_note, size="1", color_scheme="gray", id="saved-note"),
        rx.spacer(),
        rx.button(
            "Save draft and exit",
            variant="soft",
            on_click=S.save_and_exit,
            loading=S.saving,
            id="wizard-save",
            type="button",
        ),
        rx.cond(
            S.is_last_stage,
            launch_button(),
            rx.button(
                "Next",
                rx.icon("arrow-right", size=14),
                on_click=S.go_next,
                loading=S.saving,
                id="wizard-next",
                type="button",
            ),
        ),
        align="center",
        spacing="3",
        wrap="wrap",
        width="100%",
        padding_top="0.5rem",
        border_top=f"1px solid {rx.color('gray', 5)}",
    )


def launch_button() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                rx.icon("rocket", size=14),
                "Launch",
                loading=S.launching,
                color_scheme="grass",
                id="wizard-launch",
                type="button",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Launch this campaign?"),
            # The description is a <p> itself: text only inside it, no <p> of its own.
            rx.alert_dialog.description(
                rx.cond(
                    S.start_mode == "now",
                    rx.fragment(
                        S.enroll_count.to_string(),
                        " leads are enrolled now and the first step goes out in its window.",
                    ),
                    rx.fragment(
                        "It starts ", S.start_date, " ", S.start_time, " (", S.timezone, ")."
                    ),
                ),
            ),
            rx.cond(
                S.block_count > 0,
                rx.callout(
                    "Some messages will be blocked (see the compliance check).",
                    icon="octagon-x",
                    color_scheme="red",
                    size="1",
                ),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Not yet", variant="soft", color_scheme="gray", type="button")
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Launch", color_scheme="grass", on_click=S.launch, id="launch-confirm"
                    )
                ),
                justify="end",
                spacing="3",
                padding_top="1rem",
            ),
            max_width="28rem",
        ),
    )


# 1. Goal and audience --------------------------------------------------------------------------


def _sample_row(row: SampleRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row["name"], href=row["href"], size="2")),
        rx.table.cell(rx.text(row["status"], size="1")),
        rx.table.cell(rx.text(row["temperature"], " ", row["score"].to_string(), size="1")),
        rx.table.cell(rx.text(row["agent"], size="1")),
        class_name="sample-row",
    )


def audience_count() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(
                    S.audience_count.to_string(), size="8", id="audience-count", aria_live="polite"
                ),
                rx.cond(S.counting, rx.spinner(size="2")),
                align="center",
                spacing="3",
            ),
            rx.text("leads match now", size="2", color_scheme="gray"),
            rx.cond(
                S.sample.length() > 0,
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Top by score"),
                                rx.table.column_header_cell("Status"),
                                rx.table.column_header_cell("Score"),
                                rx.table.column_header_cell("Agent"),
                            )
                        ),
                        rx.table.body(rx.foreach(S.sample, _sample_row)),
                        size="1",
                        width="100%",
                        id="audience-sample",
                    ),
                    overflow_x="auto",
                    width="100%",
                ),
                rx.text(
                    "Nobody matches: loosen the rule.",
                    size="2",
                    color_scheme="amber",
                    id="audience-none",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        position=rx.breakpoints(initial="static", md="sticky"),
        top="1rem",
    )


def audience_stage() -> rx.Component:
    goal = card(
        "Goal",
        rx.vstack(
            field_label("Campaign name", "campaign-name"),
            rx.input(
                value=S.name,
                on_change=S.set_name,
                placeholder="e.g. 14-day silent win-back",
                id="campaign-name",
                width="100%",
                color_scheme=rx.cond(S.errors.contains("name"), "red", "gray"),
            ),
            field_error("name"),
            spacing="1",
            width="100%",
        ),
        # Radio items wrap on a phone, where three segments would not fit side by side.
        rx.radio_group.root(
            rx.flex(
                *(
                    rx.hstack(
                        rx.radio_group.item(value=key, id=f"goal-{key}", aria_label=label),
                        rx.text(label, size="2", as_="label", html_for=f"goal-{key}"),
                        spacing="2",
                        align="center",
                    )
                    for key, label in GOALS.items()
                ),
                spacing="4",
                wrap="wrap",
            ),
            value=S.goal,
            on_change=S.set_goal,
            name="goal",
            id="campaign-goal",
        ),
    )
    rule = card(
        "Who gets it",
        rx.text(
            "Every choice narrows the audience; leave a row empty for any. Closed leads and "
            "leads opted out of both channels are never in it.",
            size="2",
            color_scheme="gray",
        ),
        field_label("Status"),
        chips(
            *(chip("statuses", s, s, S.statuses.contains(s), f"rule-status-{s}") for s in STATUSES)
        ),
        field_label("Temperature"),
        chips(
            *(
                chip("temperatures", t, t, S.temperatures.contains(t), f"rule-temperature-{t}")
                for t in TEMPERATURES
            )
        ),
        rx.grid(
            rx.vstack(
                field_label("Score from", "rule-min-score"),
                rx.debounce_input(
                    rx.input(
                        value=S.min_score,
                        on_change=lambda v: S.set_rule("min_score", v),
                        type="number",
                        min=0,
                        max=100,
                        placeholder="0",
                        id="rule-min-score",
                    ),
                    debounce_timeout=400,
                ),
                field_error("audience.min_score"),
                spacing="1",
            ),
            rx.vstack(
                field_label("Score to", "rule-max-score"),
                rx.debounce_input(
                    rx.input(
                        value=S.max_score,
                        on_change=lambda v: S.set_rule("max_score", v),
                        type="number",
                        min=0,
                        max=100,
                        placeholder="100",
                        id="rule-max-score",
                    ),
                    debounce_timeout=400,
                ),
                field_error("audience.max_score"),
                spacing="1",
            ),
            rx.vstack(
                field_label("Silent for at least"),
                rx.select.root(
                    rx.select.trigger(id="rule-silent-for", aria_label="Silent for at least"),
                    rx.select.content(
                        *(
                            rx.select.item(label, value=key or NONE)
                            for key, label in SILENT_FOR.items()
                        )
                    ),
                    value=rx.cond(S.silent_for == "", NONE, S.silent_for),
                    on_change=lambda v: S.set_rule("silent_for", v),
                ),
                field_error("audience.silent_for_hours"),
                spacing="1",
            ),
            columns=rx.breakpoints(initial="2", sm="3"),
            spacing="3",
            width="100%",
        ),
        rx.cond(
            S.source_choices.length() > 0,
            rx.vstack(
                field_label("Source"),
                chips(
                    rx.foreach(
                        S.source_choices,
                        lambda c: chip(
                            "sources",
                            c["value"],
                            c["label"],
                            S.sources.contains(c["value"]),
                            "rule-source-" + c["value"],
                        ),
                    )
                ),
                spacing="2",
            ),
        ),
        rx.cond(
            S.agent_choices.length() > 0,
            rx.vstack(
                field_label("Agent"),
                chips(
                    rx.foreach(
                        S.agent_choices,
                        lambda c: chip(
                            "agent_ids",
                            c["value"],
                            c["label"],
                            S.agent_ids.contains(c["value"]),
                            "rule-agent-" + c["value"],
                        ),
                    )
                ),
                spacing="2",
            ),
        ),
        rx.vstack(
            field_label("Tags (any of, comma-separated)", "rule-tags"),
            rx.debounce_input(
                rx.input(
                    value=S.tags,
                    on_change=lambda v: S.set_rule("tags", v),
                    placeholder="e.g. buyer, relocation",
                    id="rule-tags",
                    width="100%",
                ),
                debounce_timeout=500,
            ),
            field_error("audience.tags"),
            spacing="1",
            width="100%",
        ),
    )
    return rx.grid(
        rx.vstack(goal, rule, spacing="4", width="100%"),
        audience_count(),
        columns=rx.breakpoints(initial="1", md="3fr 2fr"),
        spacing="4",
        width="100%",
        align_items="start",
    )


@page(route=routes.CAMPAIGNS + "/[campaign_key]", title="Campaign wizard", on_load=S.load)
def campaign_wizard_page() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), "Campaigns", align="center"),
            href=routes.CAMPAIGNS,
        ),
        rx.hstack(
            rx.heading(rx.cond(S.name != "", S.name, "New campaign"), size="6"),
            rx.badge("draft", variant="soft", radius="full"),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        stepper(),
        rx.heading(S.stage_title, size="4", id="wizard-stage-title"),
        rx.cond(
            S.general_errors.length() > 0,
            problems_callout(S.general_errors, id="wizard-errors"),
        ),
        rx.match(
            S.stage,
            (0, audience_stage()),
            (1, steps_stage()),
            (2, messages_stage()),
            (3, timing_stage()),
            review_stage(),
        ),
        footer(),
        spacing="4",
        width="100%",
    )
