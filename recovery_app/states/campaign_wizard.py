"""The campaign wizard (managers): five stages - audience, steps, messages, timing, review -
over one draft campaign that is saved each time the manager moves on. The form lives here as
text; `domain.campaigns.wizard` reads, checks and saves it, `composing` previews it and
`projection` reviews it. Handlers that only edit the form touch no data; every handler that
reads or writes the database asks for a manager first."""

from datetime import UTC, datetime
from typing import Any

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app import routes
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns import composing, projection, wizard
from recovery_app.domain.campaigns.send_time import suggested_window
from recovery_app.domain.campaigns.wizard import STAGES, StepDraft, WizardDraft
from recovery_app.domain.ids import is_id
from recovery_app.errors import Conflict, NotFound, ValidationFailed
from recovery_app.models import CampaignGoal, Channel, LeadStatus, Template
from recovery_app.states.campaign_views import (
    NONE,
    SILENT_FOR,
    STAGE_TITLES,
    STATUSES,
    TEMPERATURES,
    VARIABLES,
    CostRow,
    DayRow,
    FindingRow,
    SampleRow,
    StepRow,
    StepView,
    SummaryRow,
    TemplateChoice,
    cost_rows,
    field_label,
    plan_rows,
    problem_text,
    step_row,
    step_view,
    summary_rows,
)
from recovery_app.states.db import in_session
from recovery_app.states.formatting import display_source
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState


class CampaignWizardState(SessionState):
    draft_id: int = 0
    stage: int = 0
    saving: bool = False
    launching: bool = False
    counting: bool = False
    drafting_key: int = -1
    saved_note: str = ""
    errors: dict[str, str] = {}

    # 1. goal and audience
    name: str = ""
    goal: str = "reply"
    statuses: list[str] = ["silent"]
    temperatures: list[str] = []
    sources: list[str] = []
    agent_ids: list[str] = []
    tags: str = ""
    min_score: str = ""
    max_score: str = ""
    silent_for: str = ""
    audience_count: int = 0
    sample: list[SampleRow] = []
    source_choices: list[Choice] = []
    agent_choices: list[Choice] = []

    # 2 and 3. steps and their messages
    steps: list[StepRow] = []
    templates: list[TemplateChoice] = []
    _library: list[dict[str, Any]] = []
    _next_key: int = 1
    preview_lead: str = ""
    preview_name: str = ""
    preview_values: dict[str, str] = {}
    notes: dict[str, str] = {}

    # 4. timing
    days: list[int] = [0, 1, 2, 3, 4, 5]
    window_start: str = "09:00"
    window_end: str = "19:00"
    optimize: bool = False
    suggestion: str = ""
    _suggested_for: str = "-"  # the channels `suggestion` was read for
    frequency_cap: str = "3"
    autopilot: bool = True
    always_on: bool = False
    start_mode: str = "now"
    start_date: str = ""
    start_time: str = "09:00"
    timezone: str = ""

    # 5. review
    summary: list[SummaryRow] = []
    plan: list[DayRow] = []
    findings: list[FindingRow] = []
    costs: list[CostRow] = []
    cost_total: str = ""
    enroll_count: int = 0

    # -------------------------------------------------------------------- the form
    def _draft(self) -> WizardDraft:
        return WizardDraft(
            name=self.name,
            goal=self.goal,
            statuses=list(self.statuses),
            temperatures=list(self.temperatures),
            sources=list(self.sources),
            agent_ids=[int(a) for a in self.agent_ids if is_id(a)],
            tags=self.tags,
            min_score=self.min_score,
            max_score=self.max_score,
            silent_for_hours=self.silent_for,
            steps=[
                StepDraft(
                    channel=row["channel"],
                    delay=row["delay"],
                    delay_unit=row["delay_unit"],
                    condition=row["condition"],
                    template_id=int(row["template_id"]) if is_id(row["template_id"]) else None,
                    subject=row["subject"] if row["channel"] == Channel.EMAIL else "",
                    body=row["body"],
                    ai_personalize=row["ai_personalize"],
                )
                for row in self.steps
            ],
            days=sorted(self.days),
            window_start=self.window_start,
            window_end=self.window_end,
            optimize=self.optimize,
            frequency_cap=self.frequency_cap,
            autopilot=self.autopilot,
            always_on=self.always_on,
            start_mode=self.start_mode,
            start_date=self.start_date,
            start_time=self.start_time,
        )

    def _show_draft(self, draft: WizardDraft) -> None:
        self.name, self.goal = draft.name, draft.goal
        self.statuses, self.temperatures = list(draft.statuses), list(draft.temperatures)
        self.sources = list(draft.sources)
        self.agent_ids = [str(a) for a in draft.agent_ids]
        self.tags = draft.tags
        self.min_score, self.max_score = draft.min_score, draft.max_score
        self.silent_for = draft.silent_for_hours
        self.steps = []
        for step in draft.steps:
            self._append(step)
        self.days, self.optimize = list(draft.days), draft.optimize
        self.window_start, self.window_end = draft.window_start, draft.window_end
        self.frequency_cap = draft.frequency_cap
        self.autopilot, self.always_on = draft.autopilot, draft.always_on
        self.start_mode, self.start_date = draft.start_mode, draft.start_date
        self.start_time = draft.start_time

    def _append(self, step: StepDraft) -> None:
        self.steps = [*self.steps, step_row(self._next_key, step)]
        self._next_key += 1

    def _reset_form(self) -> None:
        defaults = WizardDraft(statuses=[str(LeadStatus.SILENT)])
        self.draft_id, self.stage, self.errors, self.notes = 0, 0, {}, {}
        self.saved_note, self.drafting_key = "", -1
        self.saving = self.launching = self.counting = False
        self.suggestion, self._suggested_for = "", "-"
        self._show_draft(defaults)

    def _key(self) -> str:
        """The path's last part: "new" or a campaign id."""
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1]

    # -------------------------------------------------------------------- loading
    @rx.event
    async def load(self):
        """on_load: a new draft (/campaigns/new) or a saved one (/campaigns/<id>), the rule
        builder's choices, the template library and the live audience count."""
        viewer = await self._manager_viewer("the campaign wizard")
        key = self._key()
        campaign_id = int(key) if is_id(key) else None
        if campaign_id is not None and campaign_id == self.draft_id:
            # This tab already holds the draft: the page was hydrated again (a reconnect reruns
            # on_load) or the manager came back to it. Keep what is on the page.
            return None
        self._reset_form()

        def read(s: Session) -> tuple[Any, ...]:
            draft = (
                wizard.load(s, viewer=viewer, campaign_id=campaign_id)
                if campaign_id is not None
                else None
            )
            return (
                draft,
                composing.audience_options(s, viewer=viewer),
                [
                    {
                        "id": t.id,
                        "channel": str(t.channel),
                        "name": t.name,
                        "situation": t.situation,
                        "subject": t.subject,
                        "body": t.body,
                    }
                    for t in composing.library(s, viewer=viewer)
                ],
                wizard.office_timezone(s, viewer),
            )

        try:
            draft, options, library, timezone = await in_session(read)
        except (NotFound, Conflict) as exc:
            # Another office's campaign, or one that already ran: back to the list, saying why.
            return [notice.error(exc.message), rx.redirect(routes.CAMPAIGNS)]
        self.source_choices = [Choice(value=x, label=display_source(x)) for x in options.sources]
        self.agent_choices = [Choice(value=str(a.id), label=a.name) for a in options.agents]
        self._library = library
        self.templates = [
            TemplateChoice(value=str(t["id"]), label=t["name"], channel=str(t["channel"]))
            for t in library
        ]
        self.timezone = timezone
        if draft is not None:
            self.draft_id = int(campaign_id or 0)
            self._show_draft(draft)
        if not self.steps:
            # A campaign starts with one text from the library (a draft saved before its
            # steps were reached too).
            self._add_step(Channel.SMS)
        await self._count(viewer)

    async def _count(self, viewer: Viewer) -> None:
        """The live count and sample of the rule as it stands (its field errors otherwise)."""
        draft, now = self._draft(), datetime.now(UTC)
        self.counting = True
        try:
            found = await in_session(
                lambda s: composing.preview_audience(s, viewer=viewer, draft=draft, now=now)
            )
        except ValidationFailed as exc:
            self.errors = {k: v for k, v in self.errors.items() if not k.startswith("audience.")}
            self.errors = self.errors | exc.fields
            return
        finally:
            self.counting = False
        self.errors = {k: v for k, v in self.errors.items() if not k.startswith("audience.")}
        self.audience_count = found.count
        self.sample = [
            SampleRow(
                id=lead.id,
                href=routes.lead_detail(lead.id),
                name=f"{lead.first_name} {lead.last_name}".strip() or "(no name)",
                status=lead.status,
                temperature=lead.temperature,
                score=lead.score,
                agent=lead.agent or "Unassigned",
                source=display_source(lead.source),
            )
            for lead in found.sample
        ]
        shown = {str(row["id"]) for row in self.sample}
        if self.preview_lead not in shown:
            await self._preview(viewer, self.sample[0]["id"] if self.sample else None)

    async def _preview(self, viewer: Viewer, lead_id: int | None) -> None:
        if lead_id is None:
            self.preview_lead, self.preview_name = "", ""
            self.preview_values = {}
            return
        values = await in_session(
            lambda s: composing.lead_values(s, viewer=viewer, lead_id=lead_id)
        )
        self.preview_lead = str(lead_id)
        self.preview_values = {k: v for k, v in values.items() if v is not None}
        row = next((r for r in self.sample if r["id"] == lead_id), None)
        self.preview_name = row["name"] if row else ""

    # -------------------------------------------------------------------- 1. audience
    @rx.event
    def set_name(self, value: str):
        self.name = value[:200]

    @rx.event
    def set_goal(self, value: str | list[str]):
        goal = value if isinstance(value, str) else value[0]
        if goal in tuple(CampaignGoal):
            self.goal = goal

    @rx.event
    async def toggle_rule(self, key: str, value: str):
        """A chip of the rule builder (status, temperature, source, agent) on or off."""
        viewer = await self._manager_viewer("the campaign wizard")
        allowed: dict[str, tuple[str, ...]] = {
            "statuses": STATUSES,
            "temperatures": TEMPERATURES,
            "sources": tuple(c["value"] for c in self.source_choices),
            "agent_ids": tuple(c["value"] for c in self.agent_choices),
        }
        if key not in allowed or value not in allowed[key]:
            return
        current: list[str] = getattr(self, key)
        setattr(
            self, key, [v for v in current if v != value] if value in current else [*current, value]
        )
        await self._count(viewer)

    @rx.event
    async def set_rule(self, key: str, value: str):
        """A typed or chosen rule field (scores, silent for, tags), counted again."""
        viewer = await self._manager_viewer("the campaign wizard")
        if key not in ("min_score", "max_score", "silent_for", "tags"):
            return
        if key == "silent_for" and value not in SILENT_FOR:
            value = ""
        setattr(self, key, value.strip()[:200])
        await self._count(viewer)

    # -------------------------------------------------------------------- 2. steps
    def _add_step(self, channel: str) -> None:
        library = [Template(**t) for t in self._library]
        earlier = sum(1 for row in self.steps if row["channel"] == channel)
        start = composing.starting_template(library, channel, earlier)
        self._append(
            StepDraft(
                channel=channel,
                # The first step goes out at once, later ones two days apart until changed.
                delay="0" if not self.steps else "2",
                delay_unit="days",
                template_id=start.id if start else None,
                subject=(start.subject or "") if start else "",
                body=start.body if start else "",
            )
        )

    @rx.event
    def add_step(self, channel: str):
        if channel in tuple(Channel) and len(self.steps) < wizard.MAX_STEPS:
            self._add_step(channel)

    @rx.event
    def remove_step(self, index: int):
        index = int(index)
        if 0 <= index < len(self.steps):
            self.steps = [row for i, row in enumerate(self.steps) if i != index]
            self.errors = {k: v for k, v in self.errors.items() if not k.startswith("steps.")}

    @rx.event
    def move_step(self, index: int, delta: int):
        index, target = int(index), int(index) + int(delta)
        if 0 <= index < len(self.steps) and 0 <= target < len(self.steps):
            rows = list(self.steps)
            rows[index], rows[target] = rows[target], rows[index]
            self.steps = rows
            self.errors = {k: v for k, v in self.errors.items() if not k.startswith("steps.")}

    @rx.event
    def set_step(self, index: int, field: str, value: str):
        """One text field of a step (channel, wait, unit, condition, subject, body)."""
        index = int(index)
        if field not in ("channel", "delay", "delay_unit", "condition", "subject", "body"):
            return
        if not 0 <= index < len(self.steps):
            return
        if field == "condition" and value == NONE:
            value = ""
        row = dict(self.steps[index])
        row[field] = value[:5000]
        if field in ("subject", "body") or (
            field == "channel" and value != self.steps[index]["channel"]
        ):
            # Edited text is the step's own (the engine would fill an emptied field from the
            # template otherwise), and a text template does not fit an email.
            row["template_id"] = NONE
        self._replace(index, row)

    @rx.event
    def set_step_ai(self, index: int, value: bool):
        index = int(index)
        if 0 <= index < len(self.steps):
            self._replace(index, dict(self.steps[index]) | {"ai_personalize": bool(value)})

    def _replace(self, index: int, row: dict[str, Any]) -> None:
        self.steps = [StepRow(**row) if i == index else r for i, r in enumerate(self.steps)]  # type: ignore[typeddict-item]
        self.errors = {k: v for k, v in self.errors.items() if not k.startswith(f"steps.{index}.")}

    # -------------------------------------------------------------------- 3. messages
    @rx.event
    def pick_template(self, index: int, template_id: str):
        """A library template for the step: its subject and text replace the step's."""
        index = int(index)
        template = next((t for t in self._library if str(t["id"]) == template_id), None)
        if template is None or not 0 <= index < len(self.steps):
            return
        if template["channel"] != self.steps[index]["channel"]:
            return
        row = dict(self.steps[index])
        row |= {
            "template_id": str(template["id"]),
            "subject": template["subject"] or "",
            "body": template["body"],
        }
        self._replace(index, row)

    @rx.event
    def insert_variable(self, index: int, name: str):
        index = int(index)
        if name in VARIABLES and 0 <= index < len(self.steps):
            body = self.steps[index]["body"]
            spacer = "" if not body or body.endswith((" ", "\n")) else " "
            self._replace(
                index,
                dict(self.steps[index])
                | {"body": f"{body}{spacer}{{{{{name}}}}}", "template_id": NONE},
            )

    @rx.event
    async def set_preview_lead(self, value: str):
        """Preview the messages for another of the sample leads."""
        viewer = await self._manager_viewer("the campaign wizard")
        if is_id(value) and any(str(r["id"]) == value for r in self.sample):
            await self._preview(viewer, int(value))

    @rx.event
    async def draft_with_ai(self, index: int):
        """ "Draft with AI" for one step: the AI rewrites the step's text for this audience (the
        template stays, and the page says why, when AI is off or its answer fails the checks)."""
        viewer, now = await self._manager_viewer("the campaign wizard"), datetime.now(UTC)
        index = int(index)
        if not 0 <= index < len(self.steps) or self.drafting_key != -1:
            return
        key, draft = self.steps[index]["key"], self._draft()
        self.drafting_key = key
        yield
        try:
            result = await in_session(
                lambda s: composing.draft_with_ai(
                    s, viewer=viewer, draft=draft, index=index, now=now
                )
            )
        finally:
            self.drafting_key = -1
        # The steps may have moved while the AI wrote: find this one by its key.
        position = next((i for i, r in enumerate(self.steps) if r["key"] == key), None)
        if position is None:
            return
        if result.drafted_by == "template":
            why = result.note or "the AI did not answer"
            if "ANTHROPIC_API_KEY" in why:
                why = "AI drafting is off (no ANTHROPIC_API_KEY is set)"
            self.notes = self.notes | {str(key): f"Template kept: {why}."}
            yield notice.warning(f"Template kept: {why}.")
            return
        row = dict(self.steps[position]) | {"body": result.body, "template_id": NONE}
        if self.steps[position]["channel"] == Channel.EMAIL:
            row["subject"] = result.subject or row["subject"]
        self._replace(position, row)
        self.notes = self.notes | {str(key): "Written by AI for this audience; edit as you like."}
        yield notice.success("AI draft ready: read it before you go on.")

    # -------------------------------------------------------------------- 4. timing
    @rx.event
    def toggle_day(self, day: int):
        day = int(day)
        if 0 <= day <= 6:
            self.days = sorted(set(self.days) ^ {day})

    @rx.event
    def set_timing(self, field: str, value: str | list[str]):
        text = value if isinstance(value, str) else value[0]
        if field in ("window_start", "window_end", "frequency_cap", "start_date", "start_time"):
            setattr(self, field, text.strip()[:10])
        elif field == "start_mode" and text in wizard.START_MODES:
            self.start_mode = text
        elif field == "mode":
            self.autopilot = text != "review"

    @rx.event
    def set_flag(self, field: str, value: bool):
        if field in ("optimize", "always_on"):
            setattr(self, field, bool(value))

    # -------------------------------------------------------------------- moving
    async def _save(self, viewer: Viewer, stage: int) -> bool:
        """Save the draft as far as `stage`; False (errors shown) when a field is in the way."""
        draft, now, campaign_id = self._draft(), datetime.now(UTC), self.draft_id or None
        self.saving = True
        try:
            campaign = await in_session(
                lambda s: wizard.save(
                    s,
                    viewer=viewer,
                    campaign_id=campaign_id,
                    draft=draft,
                    stage=STAGES[stage],
                    now=now,
                )
            )
        except ValidationFailed as exc:
            self.errors = dict(exc.fields)
            return False
        finally:
            self.saving = False
        self.errors = {}
        self.draft_id = int(campaign.id)  # type: ignore[arg-type]
        self.saved_note = f"Draft saved {datetime.now(UTC):%H:%M} UTC"
        return True

    @rx.event
    async def go_to(self, target: int):
        """Move to stage `target` (the stepper's buttons)."""
        async for update in self._go(int(target)):
            yield update

    @rx.event
    async def go_next(self):
        async for update in self._go(self.stage + 1):
            yield update

    @rx.event
    async def go_back(self):
        async for update in self._go(self.stage - 1):
            yield update

    async def _go(self, target: int):
        """Forward only once every stage before `target` is in order (and saved); back at any
        time (saved when it can be, kept on the page regardless)."""
        viewer = await self._manager_viewer("the campaign wizard")
        target = max(0, min(target, len(STAGES) - 1))
        if target == self.stage:
            return
        first_save = self.draft_id == 0
        if target > self.stage:
            if not await self._save(viewer, target - 1):
                yield notice.error(problem_text(self.errors))
                return
        elif self.name.strip() and not await self._save(viewer, self.stage):
            # Going back never nags: what does not check out yet stays on the page unsaved.
            self.errors = {}
        self.stage = target
        if first_save and self.draft_id:
            # The address becomes the draft's, so a reload, a link or a reconnect (which runs
            # on_load again) opens this draft rather than a blank one.
            yield rx.redirect(routes.campaign(self.draft_id), replace=True)
        if target == STAGES.index("timing"):
            await self._suggest(viewer)
        if target == len(STAGES) - 1:
            await self._review(viewer)

    async def _suggest(self, viewer: Viewer) -> None:
        """The suggested send window of each channel the steps use, for the timing stage (read
        when it opens: it scans 90 days of messages)."""
        channels = sorted(
            {row["channel"] for row in self.steps if row["channel"] in tuple(Channel)}
        )
        if ",".join(channels) == self._suggested_for:
            return
        now = datetime.now(UTC)
        found = await in_session(
            lambda s: {
                c: suggested_window(s, tenant_id=viewer.tenant_id, channel=c, now=now)
                for c in channels
            }
        )
        self.suggestion = "; ".join(
            f"{'texts' if c == 'sms' else 'emails'}: {w.label} ({w.reply_rate:.0%} replied, "
            f"{w.baseline_rate:.0%} over all hours)"
            for c, w in found.items()
            if w is not None
        )
        self._suggested_for = ",".join(channels)

    @rx.event
    async def save_and_exit(self):
        viewer = await self._manager_viewer("the campaign wizard")
        if not await self._save(viewer, self.stage if self.stage < 4 else 3):
            yield notice.error(problem_text(self.errors))
            return
        yield notice.success(f'Draft "{self.name.strip()}" saved.')
        yield rx.redirect(routes.CAMPAIGNS)

    async def _review(self, viewer: Viewer) -> None:
        draft, now, campaign_id = self._draft(), datetime.now(UTC), self.draft_id or None
        found = await in_session(
            lambda s: projection.review(
                s, viewer=viewer, campaign_id=campaign_id, draft=draft, now=now
            )
        )
        self._show_review(found)

    def _show_review(self, found: projection.Review) -> None:
        self.enroll_count = found.reach.enrollable
        self.summary = summary_rows(
            self._draft(),
            found,
            labels={c["value"]: c["label"] for c in self.source_choices + self.agent_choices},
            timezone=self.timezone,
        )
        self.plan = plan_rows(found)
        self.findings = [FindingRow(level=f.level, text=f.text) for f in found.findings]
        self.costs, self.cost_total = cost_rows(found.cost)

    @rx.event
    async def launch(self):
        """Save everything and launch through the engine: the audience is enrolled now (or at
        the chosen start)."""
        viewer, now = await self._manager_viewer("the campaign wizard"), datetime.now(UTC)
        if not self.draft_id or self.launching:
            return
        draft, campaign_id = self._draft(), self.draft_id
        self.launching = True
        yield
        try:
            campaign, enrolled = await in_session(
                lambda s: wizard.launch(
                    s, viewer=viewer, campaign_id=campaign_id, draft=draft, now=now
                )
            )
        except ValidationFailed as exc:
            self.errors = dict(exc.fields)
            yield notice.error(exc.message)
            return
        finally:
            self.launching = False
        if campaign.starts_at is not None and campaign.starts_at > now:
            yield notice.success(f'"{campaign.name}" is scheduled.')
        else:
            yield notice.success(
                f'"{campaign.name}" launched: {enrolled:,} lead{"s" if enrolled != 1 else ""} '
                "enrolled."
            )
        yield rx.redirect(routes.CAMPAIGNS)

    # -------------------------------------------------------------------- what the page shows
    @rx.var
    def step_views(self) -> list[StepView]:
        values: dict[str, str | None] = dict(self.preview_values) or composing.EXAMPLE_VALUES
        return [
            step_view(index, row, values, self.errors, self.notes.get(str(row["key"]), ""))
            for index, row in enumerate(self.steps)
        ]

    @rx.var
    def sms_templates(self) -> list[TemplateChoice]:
        return [t for t in self.templates if t["channel"] == Channel.SMS]

    @rx.var
    def email_templates(self) -> list[TemplateChoice]:
        return [t for t in self.templates if t["channel"] == Channel.EMAIL]

    @rx.var
    def stage_title(self) -> str:
        return STAGE_TITLES[self.stage]

    @rx.var
    def is_last_stage(self) -> bool:
        return self.stage == len(STAGES) - 1

    @rx.var
    def general_errors(self) -> list[str]:
        """Errors no field of the current stage shows (e.g. "add at least one step")."""
        shown_here = {
            0: ("name", "goal", "audience."),
            1: ("steps.",),
            2: ("steps.",),
            3: ("send_window.", "frequency_cap_per_day", "starts_at"),
        }.get(self.stage, ())
        return [
            f"{field_label(k)}: {v}"
            for k, v in self.errors.items()
            if not any(k.startswith(p) for p in shown_here)
        ]

    @rx.var
    def day_flags(self) -> list[bool]:
        return [d in self.days for d in range(7)]

    @rx.var
    def mode(self) -> str:
        return "autopilot" if self.autopilot else "review"

    @rx.var
    def block_count(self) -> int:
        return sum(1 for f in self.findings if f["level"] == "block")
