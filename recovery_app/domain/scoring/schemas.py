from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recovery_app.models.enums import Temperature

HOT_THRESHOLD = 70
WARM_THRESHOLD = 40

# The score is a weighted sum of these features (each 0..1), in points. Calibration refits the
# weights per tenant with logistic regression on the same features.
FEATURES = (
    "source",
    "contact",
    "intent",
    "detail",
    "budget",
    "timeline",
    "replied_fast",
    "replies",
    "returning",
    "recency",
    "consent",
    "silence",
    "opted_out",
    "decision_maker",
)

DEFAULT_WEIGHTS: dict[str, float] = {
    "source": 25.0,
    "contact": 10.0,
    "intent": 15.0,
    "detail": 5.0,
    "budget": 8.0,
    "timeline": 12.0,
    "replied_fast": 15.0,
    "replies": 24.0,
    "returning": 6.0,
    "recency": 10.0,
    "consent": 5.0,
    "silence": -45.0,
    "opted_out": -20.0,
    # From enrichment (Apollo): a decision-maker's seniority counts fully, a known title or
    # company (a verified professional identity) half.
    "decision_maker": 8.0,
}

# How often each source turns into a deal (0..1), scaled by the "source" weight.
DEFAULT_SOURCE_QUALITY: dict[str, float] = {
    "referral": 1.0,
    "open_house": 0.8,
    "web_form": 0.6,
    "sms": 0.6,
    "ghl": 0.5,
    "portal": 0.4,
}
OTHER_SOURCE_QUALITY = 0.2
# A booked appointment (Calendly): the strongest sign of intent short of a deal. Like the
# trigger boost it is added outside the learned weights, as its own named factor, and goes
# away when the appointment is canceled.
APPOINTMENT_POINTS = 25


@dataclass(frozen=True, slots=True)
class ScoringModel:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    bias: float = 0.0
    source_quality: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SOURCE_QUALITY))
    median_budget_cents: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> "ScoringModel":
        """A tenant's model: its stored weights over the defaults (unknown keys ignored)."""
        config = config or {}
        weights = dict(DEFAULT_WEIGHTS)
        weights.update(
            {k: float(v) for k, v in (config.get("weights") or {}).items() if k in DEFAULT_WEIGHTS}
        )
        quality = dict(DEFAULT_SOURCE_QUALITY)
        quality.update({str(k): float(v) for k, v in (config.get("source_quality") or {}).items()})
        median = config.get("median_budget_cents")
        return cls(
            weights, float(config.get("bias", 0.0)), quality, int(median) if median else None
        )


@dataclass(frozen=True, slots=True)
class LeadFeatures:
    """What the score is computed from: all of it is on the lead row."""

    source: str
    has_phone: bool
    has_email: bool
    message: str | None = None
    timeline: str | None = None
    est_value_cents: int | None = None
    inbound_count: int = 0
    first_reply_seconds: int | None = None
    submissions: int = 1
    consent_sms: bool = False
    opted_out_sms: bool = False
    opted_out_email: bool = False
    # When the lead itself last acted (submitted a form, replied); our own sends do not count.
    last_lead_action_at: datetime | None = None
    # Our last message, if they have not answered since: how long we have been waiting.
    waiting_since: datetime | None = None
    # Points behavioral triggers added (not a learned feature: added outside the weights, like
    # the bias) and the rule(s) that added them.
    score_boost: int = 0
    score_boost_reason: str | None = None
    # When the appointment the lead booked starts (None: none booked).
    appointment_at: datetime | None = None
    # The person's professional profile from enrichment (None: not enriched or not found).
    job_title: str | None = None
    company: str | None = None
    seniority: str | None = None
    enrichment_source: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreFactor:
    factor: str
    label: str
    points: int

    def as_dict(self) -> dict[str, object]:
        return {"factor": self.factor, "label": self.label, "points": self.points}


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: int
    temperature: Temperature
    factors: list[ScoreFactor] = field(default_factory=list)

    def factors_json(self) -> list[dict[str, object]]:
        return [f.as_dict() for f in self.factors]
