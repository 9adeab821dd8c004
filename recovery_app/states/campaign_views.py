"""How the campaign wizard's form and review read on screen: its choices, the rows its
tables show and the step cards' previews, counters and errors. Pure functions over the
wizard's form and the domain's results; the state (`campaign_wizard`) holds the data."""

from typing import TypedDict

from recovery_app.domain.campaigns import composing, projection
from recovery_app.domain.campaigns.rendering import FALLBACKS
from recovery_app.domain.campaigns.wizard import StepDraft, WizardDraft
from recovery_app.domain.ids import is_id
from recovery_app.domain.leads.handling import MAX_SMS_SEGMENTS
from recovery_app.models import LeadStatus, Temperature

STAGE_TITLES = ("Goal and audience", "Channels and steps", "Messages", "Timing", "Review")
GOALS = {
    "reply": "Get a reply",
    "appointment": "Book an appointment",
    "conversion": "Close the deal",
}
STATUSES = tuple(s.value for s in LeadStatus)
TEMPERATURES = tuple(t.value for t in Temperature)
# "Silent for at least": choice -> hours ("" = any).
SILENT_FOR = {"": "Any time", "24": "1 day", "72": "3 days", "168": "7 days", "336": "14 days"}
SILENT_FOR |= {"720": "30 days", "1440": "60 days", "2160": "90 days"}
CONDITIONS = {"": "Always", "not_opened": "Only if the last email was not opened"}
VARIABLES = tuple(FALLBACKS)
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NONE = "none"  # Radix selects cannot hold ""
CHANNEL_LABELS = {"sms": "Text", "email": "Email"}


class StepRow(TypedDict):
    key: int
    channel: str
    delay: str
    delay_unit: str
    condition: str
    template_id: str  # NONE, or a template id
    subject: str
    body: str
    ai_personalize: bool


class StepView(TypedDict):
    """A step as the page shows it: its fields, its live preview and checks, its errors."""

    key: int
    index: int
    number: int
    channel: str
    channel_label: str
    delay: str
    delay_unit: str
    condition: str
    template_id: str
    subject: str
    body: str
    ai_personalize: bool
    when: str
    preview_subject: str
    preview_body: str
    counter: str
    too_long: bool
    opt_out: bool
    fair_housing: str
    note: str
    error_channel: str
    error_delay: str
    error_condition: str
    error_template: str
    error_subject: str
    error_body: str


class SampleRow(TypedDict):
    id: int
    href: str
    name: str
    status: str
    temperature: str
    score: int
    agent: str
    source: str


class TemplateChoice(TypedDict):
    value: str
    label: str
    channel: str


class SummaryRow(TypedDict):
    label: str
    value: str


class DayRow(TypedDict):
    day: str
    sms: int
    email: int
    total: int
    width: str  # the bar's share of the busiest day, as a CSS width


class FindingRow(TypedDict):
    level: str
    text: str


class CostRow(TypedDict):
    label: str
    detail: str
    amount: str


def usd(amount: float) -> str:
    """Dollars to the cent; fractions of a cent (a handful of texts) keep four places."""
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:,.4f}"


def when(index: int, delay: str, unit: str) -> str:
    """ "Right after enrollment", "2 days after step 1"."""
    amount = delay.strip() or "0"
    after = "enrollment" if index == 0 else f"step {index}"
    if amount == "0":
        return f"Right after {after}"
    label = unit if amount != "1" else unit.rstrip("s")
    return f"{amount} {label} after {after}"


def step_view(
    index: int, row: StepRow, values: dict[str, str | None], errors: dict[str, str], note: str
) -> StepView:
    """One step card: the step's fields, its text rendered for `values`, the SMS counter, the
    opt-out and Fair Housing checks, and its own errors."""
    checked = composing.check_text(row["channel"], row["subject"], row["body"], values)
    counter, too_long = "", False
    if checked.segments is not None:
        c = checked.segments
        counter = (
            f"{c.encoding} - {c.units} of {c.segments * c.per_segment} characters - "
            f"{c.segments} segment{'s' if c.segments != 1 else ''}"
            + (f" ({c.per_segment} a segment)" if c.segments > 1 else "")
        )
        too_long = c.segments > MAX_SMS_SEGMENTS

    def error(name: str) -> str:
        return errors.get(f"steps.{index}.{name}", "")

    return StepView(
        key=row["key"],
        index=index,
        number=index + 1,
        channel=row["channel"],
        channel_label=CHANNEL_LABELS.get(row["channel"], row["channel"]),
        delay=row["delay"],
        delay_unit=row["delay_unit"],
        condition=row["condition"] or NONE,
        template_id=row["template_id"],
        subject=row["subject"],
        body=row["body"],
        ai_personalize=row["ai_personalize"],
        when=when(index, row["delay"], row["delay_unit"]),
        preview_subject=checked.subject,
        preview_body=checked.body,
        counter=counter,
        too_long=too_long,
        opt_out=checked.has_opt_out,
        fair_housing=", ".join(checked.fair_housing),
        note=note,
        error_channel=error("channel"),
        error_delay=error("delay"),
        error_condition=error("condition"),
        error_template=error("template_id"),
        error_subject=error("subject"),
        error_body=error("body"),
    )


def field_label(key: str) -> str:
    """ "steps.1.body" -> "Step 2 body", "send_window.end" -> "End"."""
    parts = key.split(".")
    if parts[0] == "steps" and len(parts) > 1 and is_id(parts[1]):
        detail = f" {parts[2].replace('_', ' ')}" if len(parts) > 2 else ""
        return f"Step {int(parts[1]) + 1}{detail}"
    return parts[-1].replace("_", " ").capitalize()


def problem_text(errors: dict[str, str]) -> str:
    """The toast for a stage that cannot go on: the first problem, and how many more."""
    if not errors:
        return "Something is in the way; check the page."
    first_key, first = next(iter(errors.items()))
    more = len(errors) - 1
    return f"{field_label(first_key)}: {first}" + (f" (and {more} more)" if more else "")


def _audience_text(draft: WizardDraft, labels: dict[str, str]) -> str:
    def listed(values: list[str]) -> str:
        return ", ".join(labels.get(v, v) for v in values)

    rule = []
    if draft.statuses:
        rule.append("status " + listed(draft.statuses))
    if draft.temperatures:
        rule.append(listed(draft.temperatures))
    if draft.min_score or draft.max_score:
        rule.append(f"score {draft.min_score or 0}-{draft.max_score or 100}")
    if draft.silent_for_hours:
        rule.append(f"silent {SILENT_FOR.get(draft.silent_for_hours, draft.silent_for_hours)}+")
    if draft.sources:
        rule.append("from " + listed(draft.sources))
    if draft.agent_ids:
        rule.append("agent " + listed([str(a) for a in draft.agent_ids]))
    if draft.tags.strip():
        rule.append("tagged " + draft.tags.strip())
    return "; ".join(rule) or "every open lead"


def summary_rows(
    draft: WizardDraft, found: projection.Review, *, labels: dict[str, str], timezone: str
) -> list[SummaryRow]:
    """The review's summary: what, who, how many, which steps, when and how fast."""
    reach = found.reach
    steps = " then ".join(
        f"{CHANNEL_LABELS.get(s.channel, s.channel).lower()} "
        f"({when(i, s.delay, s.delay_unit).lower()})"
        for i, s in enumerate(draft.steps)
    )
    windows = "; ".join(
        f"{'texts' if channel == 'sms' else 'emails'} {label}"
        + (" (suggested from replies)" if suggested else "")
        for channel, (label, suggested) in sorted(found.windows.items(), reverse=True)
    )
    start = (
        "when launched"
        if draft.start_mode == "now"
        else f"{draft.start_date} {draft.start_time} ({timezone})"
    )
    limits = (
        f"at most {draft.frequency_cap} marketing messages a day per lead; "
        + ("autopilot" if draft.autopilot else "AI drafts wait for approval")
        + ("; keeps enrolling new matches" if draft.always_on else "")
    )
    return [
        SummaryRow(
            label="Campaign", value=f"{draft.name.strip()} - {GOALS.get(draft.goal, draft.goal)}"
        ),
        SummaryRow(label="Audience", value=_audience_text(draft, labels)),
        SummaryRow(
            label="Enrolled at launch",
            value=(
                f"{reach.enrollable:,} leads ({reach.sms_consented:,} can get texts, "
                f"{reach.email_consented:,} emails)"
            ),
        ),
        SummaryRow(label="Steps", value=steps),
        SummaryRow(label="Sends", value=f"{windows}, lead's local time"),
        SummaryRow(label="Starts", value=start),
        SummaryRow(label="Limits", value=limits),
    ]


def plan_rows(found: projection.Review) -> list[DayRow]:
    busiest = max((d.sms + d.email for d in found.days), default=0)
    return [
        DayRow(
            day=f"{d.day:%a %b} {d.day.day}",
            sms=d.sms,
            email=d.email,
            total=d.sms + d.email,
            width=f"{round(100 * (d.sms + d.email) / busiest) if busiest else 0}%",
        )
        for d in found.days
    ]


def cost_rows(cost: projection.CostEstimate) -> tuple[list[CostRow], str]:
    """The cost table's rows and its total."""
    ai = (
        f"{cost.ai_calls:,} drafts (one per AI step and lead group, reused for the rest)"
        if cost.ai_enabled
        else "AI is off: template text, no AI cost"
    )
    return [
        CostRow(
            label="Texts",
            detail=f"{cost.sms_messages:,} texts, {cost.sms_segments:,} segments",
            amount=usd(cost.sms_usd),
        ),
        CostRow(label="Emails", detail=f"{cost.emails:,} emails", amount=usd(cost.email_usd)),
        CostRow(label="AI drafting", detail=ai, amount=usd(cost.ai_usd)),
    ], usd(cost.total_usd)


def step_row(key: int, step: StepDraft) -> StepRow:
    return StepRow(
        key=key,
        channel=step.channel,
        delay=step.delay,
        delay_unit=step.delay_unit,
        condition=step.condition,
        template_id=str(step.template_id) if step.template_id else NONE,
        subject=step.subject,
        body=step.body,
        ai_personalize=step.ai_personalize,
    )
