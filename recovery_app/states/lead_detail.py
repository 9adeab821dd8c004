"""One lead: contact data, consent and opt-out state, score factors, recent timeline, and the
manager's GDPR tools (export everything as JSON, erase)."""

import json
from datetime import UTC, datetime
from typing import TypedDict

import plotly.graph_objects as go
import reflex as rx

from recovery_app import routes
from recovery_app.domain.analytics import conversions
from recovery_app.domain.campaigns import recovery
from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.campaigns.silence import silence_reason
from recovery_app.domain.ids import is_id
from recovery_app.domain.leads import conversation, privacy
from recovery_app.domain.leads import service as leads
from recovery_app.domain.routing import service as routing
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.models import Channel
from recovery_app.states.db import in_session
from recovery_app.states.formatting import (
    display_phone,
    display_source,
    elapsed,
    relative_time,
)
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState


def sparkline(points: list[tuple[datetime, int]]) -> go.Figure:
    """A bare line of the score over time (0-100), hot and cold bands as a hint."""
    figure = go.Figure(
        go.Scatter(
            x=[at for at, _ in points],
            y=[score for _, score in points],
            mode="lines+markers",
            line={"shape": "hv", "color": "#3e63dd"},
            marker={"size": 4},
            hovertemplate="%{y} points, %{x|%b %-d %H:%M}<extra></extra>",
        )
    )
    figure.add_hrect(y0=70, y1=100, fillcolor="#e5484d", opacity=0.08, line_width=0)
    figure.add_hrect(y0=0, y1=40, fillcolor="#0090ff", opacity=0.06, line_width=0)
    figure.update_layout(
        height=120,
        margin={"l": 25, "r": 5, "t": 5, "b": 20},
        yaxis={"range": [0, 100], "tickvals": [0, 40, 70, 100]},
        showlegend=False,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


class FactorRow(TypedDict):
    label: str
    points: int


class TimelineRow(TypedDict):
    kind: str
    when: str
    text: str


class SpeedRow(TypedDict):
    label: str
    value: str


class MessageRow(TypedDict):
    channel: str
    direction: str
    status: str
    when: str
    body: str
    # Why it is waiting or was refused ("21:40 in America/Chicago - quiet hours until 08:00 ...").
    note: str


ENRICHMENT_STATES = {
    "pending": "Looking up in Apollo",
    "no_match": "Apollo has no match for this person",
    "skipped": "Not looked up",
    "failed": "Apollo lookup failed",
}


def _enrichment(lead, now: datetime) -> tuple[list[SpeedRow], str]:
    """The profile enrichment found (each value is untrusted text, shown as text), and a line
    saying where it came from or why there is nothing."""
    rows = [
        SpeedRow(label=label, value=str(value))
        for label, value in (
            ("Job title", lead.job_title),
            ("Company", lead.company),
            ("Seniority", (lead.seniority or "").replace("_", " ")),
            ("Location", lead.location),
            ("LinkedIn", lead.linkedin_url),
        )
        if value
    ]
    status = lead.enrichment_status
    if status is None:
        return rows, ""
    source = (lead.enrichment_source or "apollo").capitalize()
    if status == "done" and lead.enriched_at is not None:
        note = f"From {source}, {relative_time(lead.enriched_at, now)}"
    else:
        note = ENRICHMENT_STATES.get(status, status)
        if lead.enrichment_note:
            note += f": {lead.enrichment_note}"
    return rows, note


class LeadDetailState(SessionState):
    lead_name: str = ""
    email: str = ""
    phone: str = ""
    source: str = ""
    status: str = ""
    temperature: str = ""
    score: int = 0
    agent: str = ""
    timezone: str = ""
    created: str = ""
    consent_sms: bool = False
    consent_email: bool = False
    opted_out_sms: str = ""
    opted_out_email: str = ""
    first_message: str = ""
    factors: list[FactorRow] = []
    timeline: list[TimelineRow] = []
    messages: list[MessageRow] = []
    found: bool = False
    # The lead does not exist or is not the viewer's: the page says so instead.
    missing: bool = False
    # Received -> first response accepted by the provider -> delivered -> first human touch.
    speed: list[SpeedRow] = []
    claimable: bool = False
    # Recovery: why the lead is silent, the nurture it is in, and campaigns it can be put into.
    silence: str = ""
    nurture: str = ""
    campaign_choices: list[Choice] = []
    # The composer: what the agent writes, and what the guard said about the last send.
    compose_channel: str = "sms"
    compose_subject: str = ""
    compose_body: str = ""
    compose_result: str = ""
    compose_blocked: bool = False
    # The score over time (score_changed activities), as a small plotly line.
    score_trend: go.Figure = go.Figure()
    # The enriched profile (label, value) with its source, or why there is none.
    enrichment: list[SpeedRow] = []
    enrichment_note: str = ""
    _fingerprint: str = ""

    def _lead_id(self) -> int:
        raw = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        return int(raw) if is_id(raw) else 0

    @rx.event
    async def load(self):
        viewer = await self._viewer()
        lead_id = self._lead_id()
        try:
            detail = await in_session(
                lambda s: leads.get_lead_detail(s, viewer=viewer, lead_id=lead_id)
            )
        except NotFound:
            # Nothing of the previously shown lead (or a composer) stays on the page.
            self.found, self.missing = False, True
            raise
        lead, now = detail.lead, datetime.now(UTC)
        self.found, self.missing = True, False
        self.lead_name = f"{lead.first_name} {lead.last_name}".strip()
        self.email = lead.email or ""
        self.phone = display_phone(lead.phone)
        self.source = display_source(lead.source)
        self.status, self.temperature, self.score = lead.status, lead.temperature, lead.score
        self.agent = detail.assigned_name or "Unassigned"
        self.claimable = lead.assigned_user_id is None and not viewer.is_manager
        nurture, choices, history = await in_session(
            lambda s: (
                campaigns.active_nurture(s, lead_id=lead_id),
                campaigns.enrollable_campaigns(s, viewer=viewer),
                leads.score_history(s, viewer=viewer, lead_id=lead_id),
            )
        )
        self.silence = silence_reason(lead, now) or ""
        self.nurture = _nurture_text(nurture, now) if nurture else ""
        self.campaign_choices = [Choice(value=str(c.id), label=c.name) for c in choices]
        waiting = next(
            (m.hold_reason for m in detail.messages if m.hold_reason and m.sent_at is None), ""
        )
        received = lead.created_at
        self.speed = [
            SpeedRow(label="Received", value=received.strftime("%b %-d, %Y %H:%M:%S UTC")),
            SpeedRow(
                label="First response",
                value=elapsed(received, lead.first_response_at)
                or (f"waiting: {waiting}" if waiting else "none yet"),
            ),
            SpeedRow(
                label="Delivered", value=elapsed(received, detail.first_delivered_at) or "not yet"
            ),
            SpeedRow(
                label="First human touch",
                value=elapsed(received, lead.first_human_touch_at) or "not yet",
            ),
        ]
        self.timezone = lead.timezone or "from phone number"
        self.enrichment, self.enrichment_note = _enrichment(lead, now)
        self.created = lead.created_at.strftime("%b %-d, %Y %H:%M UTC")
        self.consent_sms, self.consent_email = lead.consent_sms, lead.consent_email
        self.opted_out_sms = lead.opted_out_sms_reason or "opted out" if lead.opted_out_sms else ""
        self.opted_out_email = (
            lead.opted_out_email_reason or "opted out" if lead.opted_out_email else ""
        )
        self.first_message = lead.message or ""
        self.factors = [
            FactorRow(label=str(f["label"]), points=int(f["points"])) for f in lead.score_factors
        ]
        self.score_trend = sparkline([*history, (now, lead.score)])
        self.messages = [
            MessageRow(
                channel=m.channel,
                direction="in" if m.direction == "inbound" else "out",
                status=m.status,
                when=relative_time(m.sent_at or m.created_at, now),
                body=(m.subject + ": " if m.subject else "") + m.body[:200],
                note=m.hold_reason
                or (f"{m.error_code}: {m.error_message}" if m.error_code else ""),
            )
            for m in detail.messages
        ]
        bodies = {m.id: m.body for m in detail.messages}
        self.timeline = [
            TimelineRow(
                kind=a.kind.replace("_", " "),
                when=relative_time(a.occurred_at, now),
                text=bodies.get(a.message_id, "") if a.message_id else _describe(a.data),
            )
            for a in detail.activities
        ]

    @rx.event
    async def refresh(self):
        """The page's timer: reload when the conversation moved (a reply, a delivery)."""
        if not self.found:
            return
        # The session is re-checked every 30 s, not on every tick of every open lead page.
        viewer, lead_id = await self._recent_viewer(), self._lead_id()
        mark = await in_session(
            lambda s: conversation.fingerprint(s, viewer=viewer, lead_id=lead_id)
        )
        if mark != self._fingerprint:
            self._fingerprint = mark
            return LeadDetailState.load

    @rx.event
    def set_compose_channel(self, value: str | list[str]):
        self.compose_channel = "email" if value == "email" else "sms"

    @rx.event
    def set_compose_subject(self, value: str):
        self.compose_subject = value

    @rx.event
    def set_compose_body(self, value: str):
        self.compose_body = value

    @rx.event
    async def send_message(self):
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        channel = Channel(self.compose_channel)
        subject = self.compose_subject if channel == Channel.EMAIL else None
        body = self.compose_body
        try:
            sent = await in_session(
                lambda s: conversation.send_message(
                    s,
                    viewer=viewer,
                    lead_id=lead_id,
                    channel=channel,
                    body=body,
                    subject=subject,
                    now=now,
                )
            )
        except ValidationFailed as exc:
            self.compose_result, self.compose_blocked = exc.message, True
            return
        self.compose_body = self.compose_subject = ""
        self.compose_blocked = sent.action == "block"
        self.compose_result = {
            "send": "Queued: it goes out now.",
            "hold": f"Queued, but held: {sent.detail}",
            "block": f"Not sent: {sent.detail}",
        }[sent.action]
        return LeadDetailState.load

    @rx.event
    async def add_note(self, form: dict):
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        text = str(form.get("note", ""))
        await in_session(
            lambda s: conversation.add_note(s, viewer=viewer, lead_id=lead_id, text=text, now=now)
        )
        return [LeadDetailState.load, notice.success("Note saved.")]

    @rx.event
    async def log_call(self, form: dict):
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        raw = str(form.get("minutes", "0")).strip() or "0"
        minutes = int(raw) if is_id(raw) else -1
        outcome, note = str(form.get("outcome", "")), str(form.get("call_note", ""))
        await in_session(
            lambda s: conversation.log_call(
                s,
                viewer=viewer,
                lead_id=lead_id,
                outcome=outcome,
                minutes=minutes,
                note=note,
                now=now,
            )
        )
        return [LeadDetailState.load, notice.success("Call logged.")]

    @rx.event
    async def record_deal(self, form: dict):
        """The lead closed: record the deal's value (and day, today when left empty)."""
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        raw = str(form.get("value", "")).replace("$", "").replace(",", "").strip()
        try:
            cents = round(float(raw) * 100)
        except (ValueError, OverflowError):
            return notice.error("Enter the deal's value in dollars.")
        day = str(form.get("closed_on", "")).strip()
        closed_at = now
        if day:
            try:
                # Noon on that day in UTC: the day as typed, whatever the browser's zone.
                closed_at = min(now, datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC))
            except ValueError:
                return notice.error("Pick the day the deal closed.")
        await in_session(
            lambda s: conversions.record_conversion(
                s, viewer=viewer, lead_id=lead_id, value_cents=cents, closed_at=closed_at, now=now
            )
        )
        return [LeadDetailState.load, notice.success(f"Converted: ${cents / 100:,.2f}.")]

    @rx.event
    async def claim(self):
        """An agent takes this unassigned lead (offered to them, or from the pool)."""
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        await in_session(lambda s: routing.claim(s, viewer=viewer, lead_id=lead_id, now=now))
        return [LeadDetailState.load, notice.success("The lead is yours.")]

    @rx.event
    async def send_recovery(self):
        """Send the next best recovery message now (through the outbox and compliance guard)."""
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        result = await in_session(
            lambda s: recovery.trigger(s, viewer=viewer, lead_id=lead_id, now=now)
        )
        note = f" It waits: {result.hold_reason}" if result.hold_reason else ""
        return [LeadDetailState.load, notice.success(f"Recovery {result.channel} queued.{note}")]

    @rx.event
    async def enroll_in(self, campaign_id: str):
        """Put the lead into a campaign by hand (it leaves any other nurture)."""
        viewer, lead_id, now = await self._viewer(), self._lead_id(), datetime.now(UTC)
        chosen = int(campaign_id) if is_id(campaign_id) else 0
        await in_session(
            lambda s: recovery.trigger(
                s, viewer=viewer, lead_id=lead_id, campaign_id=chosen, now=now
            )
        )
        return [LeadDetailState.load, notice.success("Enrolled.")]

    @rx.event
    async def export_data(self):
        """Download everything stored about this lead as JSON (managers; audited)."""
        viewer = await self._viewer()
        lead_id = self._lead_id()
        data = await in_session(lambda s: privacy.export_lead(s, viewer=viewer, lead_id=lead_id))
        return rx.download(data=json.dumps(data, indent=2), filename=f"lead-{lead_id}.json")

    @rx.event
    async def erase(self):
        """Erase this lead's personal data for good (managers; audited)."""
        viewer = await self._viewer()
        lead_id, now = self._lead_id(), datetime.now(UTC)
        await in_session(lambda s: privacy.erase_lead(s, viewer=viewer, lead_id=lead_id, now=now))
        return [
            notice.success("Lead erased; its phone and email are suppressed."),
            rx.redirect(routes.LEADS),
        ]


def _nurture_text(nurture: campaigns.Nurture, now: datetime) -> str:
    e = nurture.enrollment
    text = f"{nurture.campaign.name}: step {min(e.current_step + 1, nurture.step_count)} of {nurture.step_count}"
    if e.hold_reason:
        return f"{text} ({e.hold_reason})"
    if e.next_run_at is not None:
        when = "now" if e.next_run_at <= now else e.next_run_at.strftime("%b %-d %H:%M UTC")
        return f"{text}, next {when}"
    return text


def _describe(data: dict) -> str:
    if "invitee_uri" in data:  # an appointment booked or canceled (Calendly)
        what = str(data.get("event_name") or "appointment")
        when = (
            f" on {datetime.fromisoformat(str(data['starts_at'])):%b %-d, %H:%M UTC}"
            if data.get("starts_at")
            else ""
        )
        outcome = data.get("nurture")  # a cancellation's: what became of the nurture
        return f"{what}{when}" + (f" - {outcome}" if isinstance(outcome, str) else "")
    if "outcome" in data:  # a logged call
        note = f": {data['note']}" if data.get("note") else ""
        return f"{str(data['outcome']).replace('_', ' ')}, {data.get('minutes', 0)} min{note}"
    if "text" in data:  # a note
        return str(data["text"])
    if "rule" in data:  # a behavioral trigger fired
        return f"{data['rule']} ({str(data.get('action', '')).replace('_', ' ')})"
    if "until" in data:  # snoozed
        return f"until {datetime.fromisoformat(str(data['until'])):%b %-d, %Y}"
    if "to" in data:
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"{data.get('from', '')} -> {data['to']}{reason}"
    if "campaign" in data:
        return str(data["campaign"])
    if "name" in data:
        return str(data["name"])
    if "via" in data:  # a form, webhook, GoHighLevel or CSV submission
        again = "again " if data.get("merged") else ""
        said = f": {data['message']}" if data.get("message") else ""
        return f"{again}via {data['via']} ({display_source(str(data.get('source', '')))}){said}"
    if data.get("message"):
        return str(data["message"])
    return ""
