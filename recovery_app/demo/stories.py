"""One lead's life in the demo: what it wrote, what we sent, whether it answered, went silent,
was recovered by a campaign, converted or was lost.

A story is plain rows (dicts) with references between them by list index; the generator turns
those into database ids after each bulk insert.
"""

import functools
import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from phonenumbers import parse
from phonenumbers.timezone import time_zones_for_number

from recovery_app.demo import content
from recovery_app.domain.campaigns.rendering import render
from recovery_app.domain.scoring.schemas import DEFAULT_SOURCE_QUALITY
from recovery_app.domain.scoring.service import INTENT_PATTERN
from recovery_app.messaging.segments import sms_segments
from recovery_app.models import (
    ActivityKind,
    Channel,
    Direction,
    LeadStatus,
    MessageCategory,
    MessageStatus,
)

SMS_COST_MICRODOLLARS = 8_300  # Twilio US price per segment, incl. carrier fees
EMAIL_COST_MICRODOLLARS = 1_000  # SendGrid Pro, per email
SILENCE_THRESHOLD = timedelta(hours=48)


@dataclass(slots=True)
class CampaignPlan:
    """A demo campaign as the stories need it: its id, steps and templates by step."""

    id: int
    name: str
    # (channel, delay after previous step, body, subject, step id, template id)
    steps: list[tuple[Channel, timedelta, str, str | None, int, int]]


@dataclass(slots=True)
class OfficeContext:
    office: content.DemoOffice
    location_id: str
    tenant_id: int
    agents: list[tuple[int, str, int]]  # (user id, full name, capacity)
    templates: dict[tuple[str, Channel], tuple[int, str, str | None]]
    silent_7d: CampaignPlan
    reactivation_30d: CampaignPlan
    open_house: CampaignPlan


@dataclass(slots=True)
class Story:
    lead: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    # Activities refer to their message by index in `messages` under the "_message" key.
    activities: list[dict[str, Any]] = field(default_factory=list)
    enrollments: list[dict[str, Any]] = field(default_factory=list)
    conversion: dict[str, Any] | None = None
    inbound_count: int = 0
    first_reply_at: datetime | None = None


class StoryTeller:
    """Writes the stories of one office's leads; deterministic for a given `rng` and `now`."""

    def __init__(self, ctx: OfficeContext, rng: random.Random, now: datetime, key_prefix: str):
        self.ctx = ctx
        self.rng = rng
        self.now = now
        self.key_prefix = key_prefix
        self.used_phones: set[str] = set()
        self.used_emails: set[str] = set()
        self._agent_weights = [capacity for _, _, capacity in ctx.agents]

    # ----------------------------------------------------------------- people
    def _phone(self) -> str:
        rng = self.rng
        codes = self.ctx.office.local_area_codes if rng.random() < 0.7 else content.OTHER_AREA_CODES
        for _ in range(50):
            number = f"+1{rng.choice(codes)}555{rng.randrange(10_000):04d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number
        # A crowded market: the whole list of area codes, and past about 300,000 leads an
        # office (when the 555 exchanges run out) any exchange, so large benchmark seeds end.
        for attempt in itertools.count():
            exchange = "555" if attempt < 50 else str(rng.randrange(200, 1000))
            number = (
                f"+1{rng.choice(content.OTHER_AREA_CODES)}{exchange}{rng.randrange(10_000):04d}"
            )
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number
        raise AssertionError("unreachable")

    def _email(self, first: str, last: str) -> str:
        rng = self.rng
        base = f"{first}.{last}".lower().replace("'", "")
        while True:
            email = f"{base}{rng.randrange(1, 10_000)}@{rng.choice(content.EMAIL_DOMAINS)}"
            if email not in self.used_emails:
                self.used_emails.add(email)
                return email

    # ----------------------------------------------------------------- rows
    def _message(
        self,
        story: Story,
        at: datetime,
        channel: Channel,
        direction: Direction,
        body: str,
        *,
        category: MessageCategory = MessageCategory.CONVERSATIONAL,
        subject: str | None = None,
        campaign: CampaignPlan | None = None,
        step_index: int | None = None,
        enrollment_index: int | None = None,
        sent_by: int | None = None,
    ) -> int:
        rng = self.rng
        lead = story.lead
        index = len(story.messages)
        office = self.ctx.office
        row: dict[str, Any] = {
            "tenant_id": self.ctx.tenant_id,
            "channel": channel,
            "direction": direction,
            "category": category,
            "subject": subject,
            "body": body,
            "idempotency_key": f"{self.key_prefix}:{lead['_key']}:{index}",
            "created_at": at,
            "updated_at": at,
            "attempts": 1 if direction == Direction.OUTBOUND else 0,
            "sent_by_user_id": sent_by,
            "_enrollment": enrollment_index,
        }
        if campaign is not None and step_index is not None:
            step = campaign.steps[step_index]
            row.update(campaign_id=campaign.id, campaign_step_id=step[4], template_id=step[5])
        if direction == Direction.INBOUND:
            # As timeline._mark_replied does: our last message on the channel got the answer
            # (the Scoring page's reply rates read it).
            answered = next(
                (
                    m
                    for m in reversed(story.messages)
                    if m["channel"] == channel and m["direction"] == Direction.OUTBOUND
                ),
                None,
            )
            if answered is not None and answered.get("replied_at") is None:
                answered["replied_at"] = at
            row.update(
                status=MessageStatus.RECEIVED,
                to_address=office.sender_phone if channel == Channel.SMS else office.sender_email,
                from_address=lead["phone"] if channel == Channel.SMS else lead["email"],
                provider="twilio" if channel == Channel.SMS else "sendgrid",
                provider_id=f"SM{rng.getrandbits(128):032x}",
            )
        else:
            row.update(
                to_address=lead["phone"] if channel == Channel.SMS else lead["email"],
                from_address=office.sender_phone if channel == Channel.SMS else office.sender_email,
                sent_at=at,
            )
            self._outcome(row, at, channel)
        if channel == Channel.SMS:
            row["segments"] = sms_segments(body)
            row["cost_microdollars"] = row["segments"] * SMS_COST_MICRODOLLARS
        else:
            row["cost_microdollars"] = (
                EMAIL_COST_MICRODOLLARS if direction == Direction.OUTBOUND else 0
            )
        story.messages.append(row)

        kind = {
            (Channel.SMS, Direction.OUTBOUND): ActivityKind.SMS_OUT,
            (Channel.SMS, Direction.INBOUND): ActivityKind.SMS_IN,
            (Channel.EMAIL, Direction.OUTBOUND): ActivityKind.EMAIL_OUT,
            (Channel.EMAIL, Direction.INBOUND): ActivityKind.EMAIL_IN,
        }[(channel, direction)]
        self._activity(story, at, kind, {"channel": channel}, message_index=index, actor=sent_by)
        if row.get("opened_at"):
            self._activity(
                story, row["opened_at"], ActivityKind.EMAIL_OPEN, {}, message_index=index
            )
        if row.get("clicked_at"):
            self._activity(
                story, row["clicked_at"], ActivityKind.EMAIL_CLICK, {}, message_index=index
            )
        if direction == Direction.OUTBOUND:
            lead["last_outbound_at"] = at
            lead["last_outbound_channel"] = str(channel)
            if lead["first_response_at"] is None:
                lead["first_response_at"] = at
        else:
            lead["last_inbound_at"] = at
        return index

    def _outcome(self, row: dict[str, Any], at: datetime, channel: Channel) -> None:
        """Delivery result of an outbound message, as the provider callbacks would leave it."""
        rng = self.rng
        provider_id = f"{rng.getrandbits(128):032x}"
        if channel == Channel.SMS:
            row.update(provider="twilio", provider_id=f"SM{provider_id}")
        else:
            row.update(provider="sendgrid", provider_id=provider_id[:22])
        if self.now - at < timedelta(minutes=2):
            row["status"] = MessageStatus.SENT
            return
        roll = rng.random()
        if channel == Channel.SMS:
            if roll < 0.95:
                row.update(
                    status=MessageStatus.DELIVERED,
                    delivered_at=at + timedelta(seconds=rng.randint(2, 20)),
                )
            else:
                code, text = rng.choice(content.SMS_ERRORS)
                row.update(
                    status=MessageStatus.UNDELIVERED,
                    error_code=code,
                    error_message=text,
                    failed_at=at + timedelta(seconds=5),
                )
            return
        delivered = at + timedelta(seconds=rng.randint(1, 30))
        if roll < 0.03:
            row.update(
                status=MessageStatus.BOUNCED,
                error_code="550",
                error_message="Mailbox does not exist",
                failed_at=delivered,
            )
        elif roll < 0.58:
            row.update(status=MessageStatus.DELIVERED, delivered_at=delivered)
        else:
            opened = min(self.now, delivered + timedelta(minutes=rng.randint(3, 600)))
            row.update(status=MessageStatus.OPENED, delivered_at=delivered, opened_at=opened)
            if roll > 0.90:
                row.update(
                    status=MessageStatus.CLICKED,
                    clicked_at=min(self.now, opened + timedelta(seconds=rng.randint(5, 120))),
                )

    def _activity(
        self,
        story: Story,
        at: datetime,
        kind: ActivityKind,
        data: dict[str, Any],
        *,
        message_index: int | None = None,
        actor: int | None = None,
    ) -> None:
        story.activities.append(
            {
                "tenant_id": self.ctx.tenant_id,
                "kind": kind,
                "occurred_at": at,
                "actor_user_id": actor,
                "data": data,
                "_message": message_index,
            }
        )

    def _status(
        self, story: Story, at: datetime, status: LeadStatus, reason: str | None = None
    ) -> None:
        lead = story.lead
        data: dict[str, Any] = {"from": lead["status"], "to": status}
        if reason:
            data["reason"] = reason
        self._activity(story, at, ActivityKind.STATUS_CHANGED, data)
        lead.update(status=status, status_changed_at=at, status_reason=reason)

    # ----------------------------------------------------------------- the story
    def tell(self, key: int) -> Story:
        rng, now, office = self.rng, self.now, self.ctx.office
        age = timedelta(days=120 * rng.random() ** 1.25, seconds=rng.randrange(3600))
        t0 = now - age
        first, last = rng.choice(content.FIRST_NAMES), rng.choice(content.LAST_NAMES)
        has_phone = rng.random() < 0.92
        has_email = not has_phone or rng.random() < 0.85
        phone = self._phone() if has_phone else None
        source = rng.choices(
            [s for s, _ in content.SOURCES], weights=[w for _, w in content.SOURCES]
        )[0]
        street = f"{rng.randint(100, 9899)} {rng.choice(content.STREETS)}"
        hood = rng.choice(office.neighborhoods)
        budget = rng.choice(content.BUDGETS_CENTS) if rng.random() < 0.6 else None
        message = rng.choice(content.FIRST_MESSAGES[source]).format(
            street=street,
            hood=hood,
            city=office.city,
            beds=rng.choice((2, 3, 3, 4, 4, 5)),
            budget=f"${(budget or 45_000_000) // 100_000}k",
        )
        interest = {
            "portal": street,
            "open_house": street,
            "web_form": f"homes in {hood}",
            "ghl": f"the {office.city} market",
            "referral": f"buying in {hood}",
        }[source]
        timezone = None
        if phone and rng.random() < 0.8:
            timezone = _timezone_for(phone)
        agent = None
        if rng.random() < 0.95:
            agent = rng.choices(self.ctx.agents, weights=self._agent_weights)[0]
        consent_sms = has_phone and rng.random() < 0.9
        consent_email = has_email and rng.random() < 0.95
        lead: dict[str, Any] = {
            "_key": key,
            "tenant_id": self.ctx.tenant_id,
            "external_id": f"{source}-{rng.getrandbits(40):010x}",
            "first_name": first,
            "last_name": last,
            "email": self._email(first, last) if has_email else None,
            "phone": phone,
            "source": source,
            "message": message,
            "timezone": timezone,
            "status": LeadStatus.NEW,
            "assigned_user_id": agent[0] if agent else None,
            "attributes": {"property_interest": interest, "neighborhood": hood},
            "est_value_cents": budget,
            "consent_sms": consent_sms,
            "consent_email": consent_email,
            "consent_evidence": {
                "source": source,
                "text": "I agree to receive calls, texts and emails about my inquiry. Reply STOP to opt out.",
                "at": t0.isoformat(),
            }
            if consent_sms or consent_email
            else {},
            "created_at": t0,
            "first_response_at": None,
            "last_inbound_at": None,
            "last_outbound_at": None,
            "last_outbound_channel": None,
            "status_changed_at": None,
            "status_reason": None,
            "opted_out_sms": False,
            "opted_out_sms_at": None,
            "opted_out_sms_reason": None,
            "opted_out_email": False,
            "opted_out_email_at": None,
            "opted_out_email_reason": None,
            "converted_at": None,
        }
        story = Story(lead=lead)
        self._activity(
            story, t0, ActivityKind.FORM_SUBMITTED, {"source": source, "message": message}
        )
        if agent:
            self._activity(
                story, t0, ActivityKind.ASSIGNED, {"user_id": agent[0], "name": agent[1]}
            )

        outcome = self._outcome_for(age, lead)
        if outcome != "new":
            self._first_contact(story, t0, agent, interest)
            self._continue(story, outcome, agent, interest, hood)
        self._finish(story)
        return story

    def _outcome_for(self, age: timedelta, lead: dict[str, Any]) -> str:
        roll = self.rng.random()
        if age < SILENCE_THRESHOLD:
            return "new" if roll < 0.05 else "contacted" if roll < 0.55 else "engaged"
        # Better leads close more often: referrals over portals, clear intent, a real budget.
        # (Real brokerages see this; it is also what scoring calibration learns from.)
        quality = DEFAULT_SOURCE_QUALITY.get(lead["source"], 0.2)
        quality += 0.4 if INTENT_PATTERN.search(lead["message"] or "") else 0.0
        quality += 0.2 if (lead["est_value_cents"] or 0) >= 60_000_000 else 0.0
        converted, lost = 0.09 * (0.4 + quality), 0.19 * (1.4 - 0.6 * min(quality, 1.5))
        for outcome, share in (
            ("engaged", 0.22),
            ("recovered", 0.10),
            ("converted", converted),
            ("lost", lost),
        ):
            if roll < share:
                return outcome
            roll -= share
        return "silent"

    @staticmethod
    def _may_text(lead: dict[str, Any]) -> bool:
        """Texting needs a number, consent and no opt-out, in the demo as in the real engine."""
        return bool(lead["phone"] and lead["consent_sms"] and not lead["opted_out_sms"])

    def _agent_name(self, agent: tuple[int, str, int] | None) -> tuple[str, str]:
        return (agent[1], agent[1].split()[0]) if agent else ("", "")

    def _first_contact(self, story: Story, t0: datetime, agent: Any, interest: str) -> None:
        """The instant reply: an SMS (with opt-out language) and a welcome email."""
        rng, lead = self.rng, story.lead
        # Speed to lead: a few seconds to a couple of minutes (log-normal, median ~40 s).
        at = t0 + timedelta(seconds=min(900, math.exp(rng.gauss(math.log(40), 0.8))))
        at = min(at, self.now)
        agent_name, agent_first = self._agent_name(agent)
        values = {
            "first_name": lead["first_name"],
            "agent_name": agent_name,
            "agent_first_name": agent_first,
            "company_name": self.ctx.office.name.split(" - ")[0],
            "property_interest": interest,
        }
        if lead["phone"] and lead["consent_sms"]:
            _, body, _ = self.ctx.templates[("new_web_lead", Channel.SMS)]
            self._message(story, at, Channel.SMS, Direction.OUTBOUND, render(body, values))
        if lead["email"] and lead["consent_email"]:
            _, body, subject = self.ctx.templates[("new_web_lead", Channel.EMAIL)]
            self._message(
                story,
                at,
                Channel.EMAIL,
                Direction.OUTBOUND,
                render(body, values),
                subject=render(subject or "", values),
            )
        if lead["first_response_at"] is not None:
            self._status(story, at, LeadStatus.CONTACTED)

    def _continue(self, story: Story, outcome: str, agent: Any, interest: str, hood: str) -> None:
        rng, lead, now = self.rng, story.lead, self.now
        if lead["first_response_at"] is None:
            return  # no consent to write to them: nothing more happens
        last_out = lead["first_response_at"]
        agent_id = agent[0] if agent else None

        if lead["phone"] and lead["consent_sms"] and rng.random() < 0.04:
            self._opt_out(story, last_out + timedelta(minutes=rng.randint(1, 240)))
            outcome = "silent" if outcome != "contacted" else outcome

        if outcome == "contacted":
            return
        if outcome in ("engaged", "converted") or (outcome == "lost" and rng.random() < 0.5):
            self._conversation(story, last_out, agent_id)
            if outcome == "converted":
                self._convert(story)
            elif outcome == "lost":
                self._lose(story)
            return

        # Silent: a follow-up or two, then nothing back.
        if self._may_text(lead) and rng.random() < 0.8:
            first_name = lead["first_name"]
            body = rng.choice(content.AGENT_FOLLOW_UPS).format(
                first=first_name, interest=interest, hood=hood
            )
            at = last_out + timedelta(hours=rng.randint(20, 30))
            if at < now:
                self._message(story, at, Channel.SMS, Direction.OUTBOUND, body, sent_by=agent_id)
        last_out = lead["last_outbound_at"]
        silent_at = last_out + SILENCE_THRESHOLD
        if silent_at >= now:
            return
        self._status(
            story, silent_at, LeadStatus.SILENT, "No reply within 48 h of our last message"
        )
        if outcome == "lost":
            self._lose(story)
            return
        plan = self.ctx.open_house if lead["source"] == "open_house" else self.ctx.silent_7d
        enrolled_at = silent_at + (
            timedelta(hours=1) if plan is self.ctx.open_house else timedelta(days=5)
        )
        if enrolled_at >= now:
            return
        replied = self._run_campaign(
            story, plan, enrolled_at, recover=outcome in ("recovered", "converted")
        )
        if replied and outcome == "recovered" and rng.random() < 0.3:
            self._convert(story, recovered_by=plan)
        if not replied:
            enrolled_at = lead["last_outbound_at"] + timedelta(days=30)
            if enrolled_at < now and rng.random() < 0.7:
                self._run_campaign(story, self.ctx.reactivation_30d, enrolled_at, recover=False)

    def _opt_out(self, story: Story, at: datetime) -> None:
        if at >= self.now:
            return
        lead = story.lead
        self._message(
            story,
            at,
            Channel.SMS,
            Direction.INBOUND,
            self.rng.choice(("STOP", "Stop", "stop texting me")),
        )
        lead.update(opted_out_sms=True, opted_out_sms_at=at, opted_out_sms_reason="Replied STOP")
        self._activity(
            story, at, ActivityKind.OPTED_OUT, {"channel": "sms", "reason": "Replied STOP"}
        )

    def _conversation(self, story: Story, after: datetime, agent_id: int | None) -> None:
        """They answer (by SMS when they can, else email) and the agent answers back."""
        rng, lead, now = self.rng, story.lead, self.now
        channel = Channel.SMS if self._may_text(lead) else Channel.EMAIL
        if channel == Channel.EMAIL and not lead["email"]:
            return
        at = after + timedelta(minutes=min(2880, math.exp(rng.gauss(math.log(90), 1.2))))
        for exchange in range(rng.choice((1, 1, 2, 3))):
            if at >= now:
                return
            self._message(
                story, at, channel, Direction.INBOUND, rng.choice(content.INBOUND_REPLIES)
            )
            story.inbound_count += 1
            story.first_reply_at = story.first_reply_at or at
            if exchange == 0:
                self._status(story, at, LeadStatus.ENGAGED)
            reply_at = at + timedelta(minutes=rng.randint(2, 45))
            if reply_at >= now:
                return
            self._message(
                story,
                reply_at,
                channel,
                Direction.OUTBOUND,
                rng.choice(content.AGENT_REPLIES),
                sent_by=agent_id,
            )
            at = reply_at + timedelta(hours=rng.randint(2, 72))

    def _run_campaign(
        self, story: Story, plan: CampaignPlan, enrolled_at: datetime, *, recover: bool
    ) -> bool:
        """Send the campaign's steps that are due; with `recover`, the lead answers one of them."""
        rng, lead, now = self.rng, story.lead, self.now
        enrollment: dict[str, Any] = {
            "tenant_id": self.ctx.tenant_id,
            "campaign_id": plan.id,
            "enrolled_at": enrolled_at,
            "updated_at": enrolled_at,
            "status": "active",
            "current_step": 0,
            "next_run_at": enrolled_at,
            "stopped_reason": None,
            "completed_at": None,
        }
        enrollment_index = len(story.enrollments)
        story.enrollments.append(enrollment)
        self._activity(
            story,
            enrolled_at,
            ActivityKind.ENROLLED,
            {"campaign_id": plan.id, "campaign": plan.name},
        )
        answer_after = rng.randrange(len(plan.steps)) if recover else None
        at = enrolled_at
        for position, (channel, delay, body, subject, _step_id, _template_id) in enumerate(
            plan.steps
        ):
            at = at + delay if position else at
            if at >= now:
                enrollment["next_run_at"] = at
                return False
            allowed = (channel == Channel.SMS and self._may_text(lead)) or (
                channel == Channel.EMAIL
                and lead["email"]
                and lead["consent_email"]
                and not lead["opted_out_email"]
            )
            if allowed:
                values = {
                    "first_name": lead["first_name"],
                    "company_name": self.ctx.office.name.split(" - ")[0],
                    "property_interest": lead["attributes"]["property_interest"],
                    "open_house_address": lead["attributes"]["property_interest"],
                    "city": self.ctx.office.city,
                }
                self._message(
                    story,
                    at,
                    channel,
                    Direction.OUTBOUND,
                    render(body, values),
                    category=MessageCategory.MARKETING,
                    subject=render(subject, values) if subject else None,
                    campaign=plan,
                    step_index=position,
                    enrollment_index=enrollment_index,
                )
            enrollment.update(current_step=position + 1, updated_at=at)
            if answer_after == position:
                reply_at = at + timedelta(minutes=rng.randint(10, 1440))
                if reply_at >= now:
                    break
                reply_channel = Channel.SMS if self._may_text(lead) else Channel.EMAIL
                if reply_channel == Channel.EMAIL and not lead["email"]:
                    break
                self._message(
                    story,
                    reply_at,
                    reply_channel,
                    Direction.INBOUND,
                    rng.choice(content.RECOVERY_REPLIES),
                )
                story.inbound_count += 1
                story.first_reply_at = story.first_reply_at or reply_at
                self._status(story, reply_at, LeadStatus.RECOVERED, f"Replied to {plan.name}")
                enrollment.update(
                    status="stopped",
                    stopped_reason="replied",
                    next_run_at=None,
                    updated_at=reply_at,
                )
                return True
        if enrollment["status"] == "active" and enrollment["current_step"] == len(plan.steps):
            enrollment.update(status="completed", next_run_at=None, completed_at=at)
        elif enrollment["status"] == "active":
            enrollment["next_run_at"] = at + plan.steps[enrollment["current_step"]][1]
        return False

    def _convert(self, story: Story, recovered_by: CampaignPlan | None = None) -> None:
        rng, lead = self.rng, story.lead
        last = max(filter(None, (lead["last_inbound_at"], lead["last_outbound_at"])))
        closed_at = last + timedelta(days=rng.randint(10, 45), hours=rng.randint(0, 23))
        if closed_at >= self.now:
            return
        price = lead["est_value_cents"] or rng.choice(content.BUDGETS_CENTS)
        commission = int(price * rng.choice((0.025, 0.025, 0.028, 0.03)))
        attributed_message = None
        if recovered_by is not None:
            campaign_messages = [
                i for i, m in enumerate(story.messages) if m.get("campaign_id") == recovered_by.id
            ]
            attributed_message = campaign_messages[-1] if campaign_messages else None
        story.conversion = {
            "tenant_id": self.ctx.tenant_id,
            "value_cents": commission,
            "closed_at": closed_at,
            "attributed_campaign_id": recovered_by.id if recovered_by else None,
            "attributed_channel": story.messages[attributed_message]["channel"]
            if attributed_message is not None
            else None,
            "_message": attributed_message,
            "recorded_by_user_id": lead["assigned_user_id"],
            "note": "Closed" if recovered_by is None else f"Closed after {recovered_by.name}",
            "created_at": closed_at,
        }
        lead["est_value_cents"] = price
        lead["converted_at"] = closed_at
        self._activity(
            story,
            closed_at,
            ActivityKind.CONVERTED,
            {"value_cents": commission},
            actor=lead["assigned_user_id"],
        )
        self._status(story, closed_at, LeadStatus.CONVERTED)

    def _lose(self, story: Story) -> None:
        lead = story.lead
        base = lead["status_changed_at"] or lead["created_at"]
        at = base + timedelta(days=self.rng.randint(3, 40))
        if at < self.now:
            self._status(story, at, LeadStatus.LOST, self.rng.choice(content.LOST_REASONS))

    def _finish(self, story: Story) -> None:
        lead = story.lead
        lead["inbound_count"] = story.inbound_count
        if story.first_reply_at is not None and lead["first_response_at"] is not None:
            lead["first_reply_seconds"] = max(
                0, int((story.first_reply_at - lead["first_response_at"]).total_seconds())
            )
        human = [m["created_at"] for m in story.messages if m.get("sent_by_user_id")]
        lead["first_human_touch_at"] = min(human) if human else None
        moments = [a["occurred_at"] for a in story.activities]
        lead["last_activity_at"] = max(moments)
        lead["updated_at"] = lead["last_activity_at"]
        for message in story.messages:
            if message["channel"] == Channel.EMAIL and message["status"] == MessageStatus.BOUNCED:
                lead.update(
                    opted_out_email=True,
                    opted_out_email_at=message["failed_at"],
                    opted_out_email_reason="Bounced: mailbox does not exist",
                )


def _timezone_for(phone: str) -> str | None:
    return _timezone_for_area_code(phone[:5])


@functools.cache
def _timezone_for_area_code(prefix: str) -> str | None:
    """The IANA zone phonenumbers gives a North American area code ("+1512" -> Chicago)."""
    zones = time_zones_for_number(parse(prefix + "5550100"))
    return zones[0] if zones and zones[0] != "Etc/Unknown" else None
