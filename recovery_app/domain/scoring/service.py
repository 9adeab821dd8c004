"""Explainable lead scoring: every point comes from a named factor a manager can read.

Each feature is a number between 0 and 1 (e.g. "replied 2 of 3 times" = 0.67); its points are
the tenant's weight times that number, rounded; the score is their sum (plus the model's bias,
any points behavioral triggers added, the "behavior" factor, and a booked appointment's, the
"appointment" factor) clamped to 0..100, and the temperature follows (hot >= 70, warm 40-69,
cold < 40). Silence weighs negatively and grows with every day a lead leaves us unanswered, so
unanswered leads cool over time.
"""

import re
from datetime import datetime, timedelta

from recovery_app.domain.scoring.schemas import (
    APPOINTMENT_POINTS,
    FEATURES,
    HOT_THRESHOLD,
    OTHER_SOURCE_QUALITY,
    WARM_THRESHOLD,
    LeadFeatures,
    ScoreFactor,
    ScoreResult,
    ScoringModel,
)
from recovery_app.models import Lead, LeadStatus, Tenant
from recovery_app.models.enums import Temperature

DEFAULT_MODEL = ScoringModel()
SILENCE_FULL_DAYS = 30

SOURCE_LABELS = {
    "referral": "Referral",
    "open_house": "Open house visitor",
    "web_form": "Website form",
    "ghl": "GoHighLevel funnel",
    "portal": "Listing portal",
    "sms": "Texted in",
}

# Phrases that signal a buyer or seller ready to act soon.
INTENT_PATTERN = re.compile(
    r"pre-?approv|cash buyer|\bcash\b|this weekend|tour|showing|schedule|ready to|asap|"
    r"sell my|list my|how soon|quote|move by|relocat|offer",
    re.IGNORECASE,
)
# "asap", "0-3 months", "within 60 days", "this month", "next month", "in 3 months" ...
SHORT_TIMELINE = re.compile(
    r"\basap\b|immediately|right away|this (week|month)|next month|\b0\s*-\s*3\s*months?\b|"
    r"\b(within|in|under|less than)\s+(1|2|3|one|two|three|30|60|90)\s*(months?|days?|weeks?)\b|"
    r"\b\d{1,2}\s*(days?|weeks?)\b",
    re.IGNORECASE,
)


# Apollo's seniority levels that decide or sign (its values: owner, founder, c_suite, partner,
# vp, head, director, manager, senior, entry, intern).
DECISION_MAKER_SENIORITY = frozenset(
    {"owner", "founder", "c_suite", "partner", "vp", "head", "director"}
)
SENIORITY_LABELS = {"c_suite": "C-suite", "vp": "VP"}


def temperature_for(score: int) -> Temperature:
    if score >= HOT_THRESHOLD:
        return Temperature.HOT
    if score >= WARM_THRESHOLD:
        return Temperature.WARM
    return Temperature.COLD


def _days(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 86_400)


def feature_values(f: LeadFeatures, model: ScoringModel, *, now: datetime) -> dict[str, float]:
    """Each feature as a number in 0..1, with the same meaning calibration learns from."""
    message = (f.message or "").strip()
    intent = bool(message and INTENT_PATTERN.search(message))
    budget = 0.0
    if f.est_value_cents:
        median = model.median_budget_cents
        budget = 1.0 if median and f.est_value_cents >= median else 0.4
    recency = 0.0
    if f.last_lead_action_at is not None:
        age = now - f.last_lead_action_at
        recency = 1.0 if age <= timedelta(hours=24) else 0.5 if age <= timedelta(days=7) else 0.0
    silence = 0.0
    if f.waiting_since is not None:
        silence = min(_days(now - f.waiting_since), SILENCE_FULL_DAYS) / SILENCE_FULL_DAYS
    return {
        "source": model.source_quality.get(f.source, OTHER_SOURCE_QUALITY),
        "contact": (0.5 if f.has_phone else 0.0) + (0.5 if f.has_email else 0.0),
        "intent": 1.0 if intent else 0.0,
        "detail": 1.0 if not intent and len(message) >= 40 else 0.0,
        "budget": budget,
        "timeline": 1.0 if SHORT_TIMELINE.search(f"{f.timeline or ''} {message}") else 0.0,
        "replied_fast": 1.0
        if f.first_reply_seconds is not None and f.first_reply_seconds <= 3600
        else 0.0,
        "replies": min(f.inbound_count, 3) / 3,
        "returning": 1.0 if f.submissions >= 2 else 0.0,
        "recency": recency,
        "consent": 1.0 if f.consent_sms else 0.0,
        "silence": silence,
        "opted_out": 1.0 if f.opted_out_sms and f.opted_out_email else 0.0,
        "decision_maker": 1.0
        if (f.seniority or "").lower() in DECISION_MAKER_SENIORITY
        else 0.5
        if f.job_title or f.company
        else 0.0,
    }


def _label(name: str, f: LeadFeatures, value: float, now: datetime) -> str:
    if name == "source":
        return f"Source: {SOURCE_LABELS.get(f.source, f.source.replace('_', ' ').capitalize())}"
    if name == "contact":
        return (
            "Phone and email given"
            if value == 1
            else ("Phone given" if f.has_phone else "Email given")
        )
    if name == "budget":
        return "Budget over the office median" if value == 1 else "Budget stated"
    if name == "replies":
        return f"Replied {min(f.inbound_count, 3)}{'+' if f.inbound_count > 3 else ''} time{'s' if f.inbound_count != 1 else ''}"
    if name == "returning":
        return f"Came back ({f.submissions} inquiries)"
    if name == "recency":
        return "Reached out in the last 24 h" if value == 1 else "Reached out in the last 7 days"
    if name == "decision_maker":
        role = f.job_title or ""
        if f.company:
            role = f"{role} at {f.company}" if role else f"Works at {f.company}"
        source = f" ({f.enrichment_source.capitalize()})" if f.enrichment_source else ""
        if value == 1:
            level = (f.seniority or "").lower()
            level = SENIORITY_LABELS.get(level, level.replace("_", " ").capitalize())
            return f"Decision-maker: {role or level}{source}"[:120]
        return f"{role}{source}"[:120]
    if name == "silence":
        days = round(_days(now - f.waiting_since)) if f.waiting_since else 0
        return f"Silent {days} day{'s' if days != 1 else ''}"
    return {
        "intent": "Message shows intent to act",
        "detail": "Detailed message",
        "timeline": "Timeline under 3 months",
        "replied_fast": "Replied within 1 h",
        "consent": "Agreed to texts",
        "opted_out": "Opted out of SMS and email",
    }[name]


def score_lead(
    features: LeadFeatures, *, now: datetime, model: ScoringModel = DEFAULT_MODEL
) -> ScoreResult:
    """Score one lead at `now`; the factors (with the bias, the trigger boost and a booked
    appointment, when there are any) add up to the score before it is clamped to 0..100."""
    values = feature_values(features, model, now=now)
    factors = []
    for name in FEATURES:
        points = round(model.weights.get(name, 0.0) * values[name])
        if points:
            factors.append(ScoreFactor(name, _label(name, features, values[name], now), points))
    if round(model.bias):
        factors.append(ScoreFactor("baseline", "Baseline for this office", round(model.bias)))
    if features.score_boost:
        # Behavioral triggers ("Opened 2+ emails in 24 h"): their points, named by the rule.
        label = features.score_boost_reason or "Behavioral trigger"
        factors.append(ScoreFactor("behavior", label, features.score_boost))
    if features.appointment_at is not None:
        factors.append(ScoreFactor("appointment", "Booked an appointment", APPOINTMENT_POINTS))
    score = max(0, min(100, sum(f.points for f in factors)))
    return ScoreResult(score=score, temperature=temperature_for(score), factors=factors)


def features_of(lead: Lead) -> LeadFeatures:
    """The scoring features of a lead row (no queries: bulk rescoring stays cheap)."""
    open_lead = lead.status not in (LeadStatus.CONVERTED, LeadStatus.LOST)
    answered = lead.last_inbound_at is not None and (
        lead.last_outbound_at is None or lead.last_inbound_at >= lead.last_outbound_at
    )
    # A booked appointment answers what we sent before it starts: no silence while it stands.
    appointment_at = getattr(lead, "appointment_at", None)
    if appointment_at is not None and (
        lead.last_outbound_at is None or appointment_at >= lead.last_outbound_at
    ):
        answered = True
    return LeadFeatures(
        source=lead.source,
        has_phone=lead.phone is not None,
        has_email=lead.email is not None,
        message=lead.message,
        timeline=str((lead.attributes or {}).get("timeline") or "") or None,
        est_value_cents=lead.est_value_cents,
        inbound_count=lead.inbound_count,
        first_reply_seconds=lead.first_reply_seconds,
        submissions=lead.submissions,
        consent_sms=lead.consent_sms,
        opted_out_sms=lead.opted_out_sms,
        opted_out_email=lead.opted_out_email,
        last_lead_action_at=max(filter(None, (lead.created_at, lead.last_inbound_at))),
        waiting_since=lead.last_outbound_at
        if open_lead and lead.last_outbound_at and not answered
        else None,
        # getattr: the demo generator scores plain namespaces that carry only some columns.
        score_boost=getattr(lead, "score_boost", 0) or 0,
        score_boost_reason=getattr(lead, "score_boost_reason", None),
        appointment_at=appointment_at,
        job_title=getattr(lead, "job_title", None),
        company=getattr(lead, "company", None),
        seniority=getattr(lead, "seniority", None),
        enrichment_source=getattr(lead, "enrichment_source", None),
    )


def model_for(tenant: Tenant | None) -> ScoringModel:
    return ScoringModel.from_config(tenant.scoring if tenant is not None else None)
