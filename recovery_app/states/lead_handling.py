"""Settings -> Lead handling (managers): routing, escalation, agent alerts, first-response
templates per source and channel, and the scoring weights."""

from datetime import UTC, datetime
from typing import TypedDict

import reflex as rx

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.leads import handling
from recovery_app.domain.scoring.schemas import FEATURES
from recovery_app.domain.scoring.service import SILENCE_FULL_DAYS
from recovery_app.errors import ValidationFailed
from recovery_app.messaging.segments import sms_segments
from recovery_app.models import Channel
from recovery_app.states.db import in_session
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState

ALL_SOURCES = "all"
ORIGIN_TEXT = {
    "own": "This office's own template for these leads.",
    "default": "Uses this office's default template (no template of its own).",
    "library": "Uses the built-in template library (no template of this office's own).",
}
FACTOR_LABELS = {
    "source": "Source quality (x the source's 0-1 quality)",
    "contact": "Phone and email given",
    "intent": "Message shows intent to act (pre-approved, cash, ready)",
    "detail": "Detailed message",
    "budget": "Budget over the office median (40 % for any budget)",
    "timeline": "Timeline under 3 months",
    "replied_fast": "Replied within 1 h",
    "replies": "Replies (up to 3)",
    "returning": "Came back (submitted again)",
    "recency": "Reached out recently (24 h full, 7 days part)",
    "consent": "Agreed to texts",
    "silence": f"Silent since our last message (full after {SILENCE_FULL_DAYS} days)",
    "opted_out": "Opted out of SMS and email",
    "decision_maker": "Decision-maker per Apollo (half for a known title or company)",
}


class WeightRow(TypedDict):
    factor: str
    label: str
    value: str
    default: str


class QualityRow(TypedDict):
    source: str
    value: str


class HandlingForm(TypedDict, total=False):
    routing_mode: str
    claim_window_minutes: str
    escalate_after_hours: str
    notify_agents_sms: str
    notify_agents_email: str


def _number(form: dict[str, str], name: str, errors: dict[str, str], cast=int):
    raw = str(form.get(name, "")).strip()
    try:
        return cast(raw)
    except ValueError:
        errors[name] = "a number"
        return cast(0)


class LeadHandlingState(SessionState):
    routing_mode: str = "round_robin"
    claim_window_minutes: str = "5"
    escalate_after_hours: str = "24"
    notify_agents_sms: bool = False
    notify_agents_email: bool = False
    routing_errors: dict[str, str] = {}

    # The first-response template being edited.
    source: str = ALL_SOURCES
    channel: str = "sms"
    subject: str = ""
    body: str = ""
    origin: str = "library"
    template_errors: dict[str, str] = {}

    weights: list[WeightRow] = []
    quality: list[QualityRow] = []
    weight_errors: dict[str, str] = {}
    calibration: str = ""

    # ------------------------------------------------------------------ loading
    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("lead handling settings")
        routing, weights = await in_session(
            lambda s: (
                handling.routing(s, viewer=viewer),
                handling.weights(s, viewer=viewer),
            )
        )
        self.routing_mode = routing.routing_mode
        self.claim_window_minutes = str(routing.claim_window_minutes)
        self.escalate_after_hours = str(routing.escalate_after_hours)
        self.notify_agents_sms = routing.notify_agents_sms
        self.notify_agents_email = routing.notify_agents_email
        self.routing_errors = {}
        self._show_weights(weights)
        await self._load_template(viewer)

    def _show_weights(self, weights: handling.Weights) -> None:
        self.weights = [
            WeightRow(
                factor=name,
                label=FACTOR_LABELS.get(name, name),
                value=f"{weights.weights[name]:g}",
                default=f"{weights.defaults[name]:g}",
            )
            for name in FEATURES
        ]
        self.quality = [
            QualityRow(source=name, value=f"{value:g}")
            for name, value in sorted(weights.source_quality.items())
        ]
        self.weight_errors = {}
        c = weights.calibration
        self.calibration = (
            f"Last calibration {c['at'][:10]} on {c['outcomes']} closed leads: AUC "
            f"{c['auc_before']} with the weights in use, {c['auc_after']} fitted - "
            + ("the fitted weights were applied." if c["applied"] else "kept the weights.")
            if c
            else "Not calibrated yet: the weekly job fits the weights once the office has "
            "200 closed leads (converted or lost)."
        )

    def _template_source(self) -> str | None:
        return None if self.source == ALL_SOURCES else self.source

    async def _load_template(self, viewer: Viewer) -> None:
        source, channel = self._template_source(), Channel(self.channel)
        current = await in_session(
            lambda s: handling.first_response(s, viewer=viewer, source=source, channel=channel)
        )
        self.subject = current.subject or ""
        self.body = current.body
        self.origin = current.origin
        self.template_errors = {}

    # ------------------------------------------------------------------ routing
    @rx.event
    def set_routing_mode(self, value: str):
        self.routing_mode = value

    @rx.event
    async def save_routing(self, form: HandlingForm):
        viewer = await self._viewer()
        errors: dict[str, str] = {}
        form_values = {k: str(v) for k, v in form.items()}
        changes = handling.Routing(
            routing_mode=self.routing_mode,
            claim_window_minutes=_number(form_values, "claim_window_minutes", errors),
            escalate_after_hours=_number(form_values, "escalate_after_hours", errors),
            notify_agents_sms=form_values.get("notify_agents_sms") in ("on", "true"),
            notify_agents_email=form_values.get("notify_agents_email") in ("on", "true"),
        )
        if not errors:
            try:
                await in_session(
                    lambda s: handling.update_routing(s, viewer=viewer, changes=changes)
                )
            except ValidationFailed as exc:
                errors = dict(exc.fields or {})
        self.routing_errors = errors
        if errors:
            return notice.error("Check the highlighted settings.")
        self.claim_window_minutes = str(changes.claim_window_minutes)
        self.escalate_after_hours = str(changes.escalate_after_hours)
        self.notify_agents_sms = changes.notify_agents_sms
        self.notify_agents_email = changes.notify_agents_email
        return notice.success("Lead routing saved.")

    # ------------------------------------------------------------ first response
    @rx.event
    async def pick_source(self, value: str):
        self.source = value
        await self._load_template(await self._manager_viewer("lead handling settings"))

    @rx.event
    async def pick_channel(self, value: str | list[str]):
        # The segmented control's on_change can carry a list (multiple mode); ours is single.
        self.channel = value if isinstance(value, str) else value[0]
        await self._load_template(await self._manager_viewer("lead handling settings"))

    @rx.event
    def set_subject(self, value: str):
        self.subject = value

    @rx.event
    def set_body(self, value: str):
        self.body = value

    @rx.var
    def preview(self) -> str:
        return render(self.body, handling.LONG_SAMPLE)

    @rx.var
    def segments(self) -> str:
        if self.channel != "sms":
            return ""
        count = sms_segments(self.preview)
        return f"{len(self.preview)} characters, {count} SMS segment{'s' if count != 1 else ''}"

    @rx.var
    def origin_text(self) -> str:
        return ORIGIN_TEXT.get(self.origin, "")

    @rx.event
    async def save_template(self):
        viewer, now = await self._viewer(), datetime.now(UTC)
        source = self._template_source()
        channel, subject, body = Channel(self.channel), self.subject, self.body
        try:
            await in_session(
                lambda s: handling.save_first_response(
                    s,
                    viewer=viewer,
                    source=source,
                    channel=channel,
                    subject=subject,
                    body=body,
                    now=now,
                )
            )
        except ValidationFailed as exc:
            self.template_errors = dict(exc.fields or {})
            return notice.error(exc.message)
        await self._load_template(viewer)
        return notice.success("First-response template saved.")

    @rx.event
    async def reset_template(self):
        viewer = await self._viewer()
        source = self._template_source()
        channel = Channel(self.channel)
        await in_session(
            lambda s: handling.reset_first_response(
                s, viewer=viewer, source=source, channel=channel
            )
        )
        await self._load_template(viewer)
        return notice.success("Back to the inherited template.")

    # ------------------------------------------------------------------ weights
    @rx.event
    async def save_weights(self, form: dict[str, str]):
        viewer, now = await self._viewer(), datetime.now(UTC)
        errors: dict[str, str] = {}
        weights = {
            name: _number(form, f"w_{name}", errors, float)
            for name in FEATURES
            if f"w_{name}" in form
        }
        quality = {
            key[2:]: _number(form, key, errors, float) for key in form if key.startswith("q_")
        }
        if errors:
            self.weight_errors = {
                k.removeprefix("w_").removeprefix("q_"): v for k, v in errors.items()
            }
            return notice.error("Check the highlighted weights.")
        return await self._store_weights(viewer, weights, quality, now)

    @rx.event
    async def reset_weights(self):
        viewer, now = await self._viewer(), datetime.now(UTC)
        return await self._store_weights(viewer, None, None, now)

    async def _store_weights(self, viewer, weights, quality, now):
        def store(session):
            changed = handling.set_weights(
                session, viewer=viewer, weights=weights, source_quality=quality, now=now
            )
            return changed, handling.weights(session, viewer=viewer)

        try:
            changed, current = await in_session(store)
        except ValidationFailed as exc:
            self.weight_errors = {
                k.removeprefix("source_quality."): v for k, v in (exc.fields or {}).items()
            }
            return notice.error(exc.message)
        self._show_weights(current)
        what = "Default weights restored" if weights is None else "Weights saved"
        return notice.success(f"{what}; {changed} open lead scores changed.")
