from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery_app.domain.scoring.schemas import (
    APPOINTMENT_POINTS,
    DEFAULT_WEIGHTS,
    LeadFeatures,
    ScoringModel,
)
from recovery_app.domain.scoring.service import score_lead, temperature_for
from recovery_app.models import Temperature

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
BASE = LeadFeatures(source="portal", has_phone=True, has_email=False)


def points(result, factor: str) -> int | None:
    return next((f.points for f in result.factors if f.factor == factor), None)


@pytest.mark.parametrize(
    ("score", "temperature"),
    [(0, "cold"), (39, "cold"), (40, "warm"), (69, "warm"), (70, "hot"), (100, "hot")],
)
def test_temperature_thresholds(score: int, temperature: str) -> None:
    assert temperature_for(score) == Temperature(temperature)


def test_the_factors_add_up_to_the_score() -> None:
    result = score_lead(
        LeadFeatures(
            source="web_form",
            has_phone=True,
            has_email=True,
            message="Just browsing for now",
            consent_sms=True,
            last_lead_action_at=NOW - timedelta(hours=2),
        ),
        now=NOW,
    )
    assert sum(f.points for f in result.factors) == result.score == 15 + 10 + 10 + 5 - 0
    assert result.temperature == Temperature.WARM


@pytest.mark.parametrize(
    ("features", "factor", "expected_points", "label"),
    [
        (
            LeadFeatures(
                source="web_form",
                has_phone=True,
                has_email=False,
                inbound_count=1,
                first_reply_seconds=1800,
            ),
            "replied_fast",
            15,
            "Replied within 1 h",
        ),
        (
            LeadFeatures(source="web_form", has_phone=True, has_email=True),
            "contact",
            10,
            "Phone and email given",
        ),
        (
            LeadFeatures(source="web_form", has_phone=True, has_email=False, timeline="0-3 months"),
            "timeline",
            12,
            "Timeline under 3 months",
        ),
        (
            LeadFeatures(
                source="web_form", has_phone=True, has_email=False, message="need to move asap"
            ),
            "timeline",
            12,
            "Timeline under 3 months",
        ),
        (
            LeadFeatures(source="referral", has_phone=True, has_email=False),
            "source",
            25,
            "Source: Referral",
        ),
        (
            LeadFeatures(source="portal", has_phone=True, has_email=False),
            "source",
            10,
            "Source: Listing portal",
        ),
        (
            LeadFeatures(
                source="web_form",
                has_phone=True,
                has_email=False,
                waiting_since=NOW - timedelta(days=9),
            ),
            "silence",
            -14,
            "Silent 9 days",
        ),
        (
            LeadFeatures(source="web_form", has_phone=True, has_email=False, inbound_count=2),
            "replies",
            16,
            "Replied 2 times",
        ),
        (
            LeadFeatures(source="web_form", has_phone=True, has_email=False, submissions=3),
            "returning",
            6,
            "Came back (3 inquiries)",
        ),
    ],
)
def test_each_factor_names_its_reason(features, factor, expected_points, label) -> None:
    result = score_lead(features, now=NOW)
    found = next(f for f in result.factors if f.factor == factor)
    assert (found.points, found.label) == (expected_points, label)


def test_budget_is_compared_with_the_office_median() -> None:
    model = ScoringModel(median_budget_cents=50_000_000)
    rich = score_lead(
        LeadFeatures(
            source="web_form", has_phone=True, has_email=False, est_value_cents=60_000_000
        ),
        now=NOW,
        model=model,
    )
    modest = score_lead(
        LeadFeatures(
            source="web_form", has_phone=True, has_email=False, est_value_cents=30_000_000
        ),
        now=NOW,
        model=model,
    )
    assert points(rich, "budget") == 8 and points(modest, "budget") == 3


def test_score_is_clamped_and_negative_factors_stay_visible() -> None:
    result = score_lead(
        LeadFeatures(
            source="unknown",
            has_phone=False,
            has_email=True,
            opted_out_sms=True,
            opted_out_email=True,
            waiting_since=NOW - timedelta(days=60),
        ),
        now=NOW,
    )
    assert result.score == 0
    assert points(result, "silence") == -45 and points(result, "opted_out") == -20


def test_a_tenant_can_weigh_factors_its_own_way() -> None:
    model = ScoringModel.from_config(
        {"weights": {"source": 40, "nonsense": 99}, "bias": 10, "source_quality": {"portal": 1.0}}
    )
    result = score_lead(BASE, now=NOW, model=model)
    assert points(result, "source") == 40 and points(result, "baseline") == 10
    assert (
        "nonsense" not in model.weights and model.weights["contact"] == DEFAULT_WEIGHTS["contact"]
    )


@given(
    days=st.integers(min_value=0, max_value=60),
    more=st.integers(min_value=1, max_value=30),
    replies=st.integers(min_value=0, max_value=5),
)
def test_unanswered_leads_only_cool_with_time(days: int, more: int, replies: int) -> None:
    since = NOW - timedelta(days=days)

    def at(moment: datetime) -> int:
        features = LeadFeatures(
            source="web_form",
            has_phone=True,
            has_email=True,
            inbound_count=replies,
            waiting_since=since,
            last_lead_action_at=since - timedelta(hours=1),
        )
        return score_lead(features, now=moment).score

    assert at(NOW + timedelta(days=more)) <= at(NOW)


def test_a_booked_appointment_is_a_factor_of_its_own() -> None:
    booked = score_lead(replace(BASE, appointment_at=NOW + timedelta(days=1)), now=NOW)
    assert points(booked, "appointment") == APPOINTMENT_POINTS
    assert booked.score == score_lead(BASE, now=NOW).score + APPOINTMENT_POINTS
    assert points(score_lead(BASE, now=NOW), "appointment") is None
