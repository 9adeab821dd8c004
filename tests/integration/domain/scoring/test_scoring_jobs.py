"""The scoring jobs: hourly rescoring (silence decays scores) and per-tenant calibration."""

from datetime import timedelta

from sqlalchemy import func, select

from recovery_app.domain.scoring import jobs
from recovery_app.domain.scoring.schemas import DEFAULT_WEIGHTS
from recovery_app.domain.scoring.service import features_of, model_for, score_lead
from recovery_app.models import (
    Activity,
    ActivityKind,
    AuditLog,
    Lead,
    LeadFactorDelta,
    LeadStatus,
    Tenant,
)
from tests.factories import NOW, make_lead, make_tenant

OUTCOMES = 240  # comfortably over jobs.MIN_OUTCOMES


def closed_leads(session, tenant, count: int, *, won) -> None:
    """`count` closed leads; `won(i, source)` says whether lead i converted. Sources alternate
    between referral (the default model's best) and portal (its worst); email and SMS consent
    vary independently so the fitted model sees more than one feature move."""
    for i in range(count):
        source = "referral" if i % 2 else "portal"
        converted = won(i, source)
        created = NOW - timedelta(days=40, hours=i)
        make_lead(
            session,
            tenant,
            source=source,
            email=None if i % 3 == 0 else f"closed{tenant.id}-{i}@example.com",
            phone=f"+1303555{i:04d}",
            consent_sms=i % 5 < 2,
            status=LeadStatus.CONVERTED if converted else LeadStatus.LOST,
            created_at=created,
            status_changed_at=created + timedelta(days=3),
            converted_at=created + timedelta(days=3) if converted else None,
        )


def activities(session, lead_id: int, kind: str = ActivityKind.SCORE_CHANGED) -> list[Activity]:
    return list(
        session.execute(
            select(Activity).where(Activity.lead_id == lead_id, Activity.kind == kind)
        ).scalars()
    )


def fresh(session, model, row_id: int):
    """The row as stored (rescoring writes with bulk UPDATEs and clears the session)."""
    session.flush()
    session.expire_all()
    return session.get(model, row_id)


# ------------------------------------------------------------------------------ calibration
def test_too_few_outcomes_are_skipped_and_weights_stay(session) -> None:
    tenant = make_tenant(session, scoring={"weights": {"source": 30.0}})
    closed_leads(session, tenant, jobs.MIN_OUTCOMES - 1, won=lambda i, source: i % 2 == 0)
    for _ in range(5):  # open leads are not outcomes
        make_lead(session, tenant, status=LeadStatus.ENGAGED)
    report = jobs.calibrate_tenant(session, tenant, now=NOW)
    assert report == jobs.CalibrationReport(
        tenant.location_id,
        jobs.MIN_OUTCOMES - 1,
        None,
        None,
        False,
        f"needs {jobs.MIN_OUTCOMES} closed outcomes of both kinds; has {jobs.MIN_OUTCOMES - 1}",
    )
    assert fresh(session, Tenant, tenant.id).scoring == {"weights": {"source": 30.0}}
    assert session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0


def test_enough_outcomes_of_one_kind_only_are_skipped(session) -> None:
    tenant = make_tenant(session)
    closed_leads(session, tenant, jobs.MIN_OUTCOMES, won=lambda i, source: False)
    report = jobs.calibrate_tenant(session, tenant, now=NOW)
    assert not report.applied and report.auc_before is None and report.outcomes == 200
    assert fresh(session, Tenant, tenant.id).scoring == {}


def test_outcomes_the_weights_misjudge_get_new_weights(session) -> None:
    tenant = make_tenant(session)
    # This office's portal leads convert and its referrals do not: the defaults rank them wrong.
    closed_leads(session, tenant, OUTCOMES, won=lambda i, source: source == "portal")
    open_portal = make_lead(session, tenant, source="portal", status=LeadStatus.ENGAGED)
    open_referral = make_lead(session, tenant, source="referral", status=LeadStatus.ENGAGED)
    for lead in (open_portal, open_referral):
        result = score_lead(features_of(lead), now=NOW, model=model_for(tenant))
        lead.score, lead.score_factors = result.score, result.factors_json()
    assert open_referral.score > open_portal.score
    ids = (tenant.id, open_portal.id, open_referral.id)

    report = jobs.calibrate_tenant(session, tenant, now=NOW)

    assert report.applied and report.outcomes == OUTCOMES
    assert report.reason == "new weights rank outcomes better"
    assert report.auc_before < 0.5 < 0.95 < report.auc_after <= 1.0
    stored = fresh(session, Tenant, ids[0])
    weights = stored.scoring["weights"]
    assert (
        set(weights) == set(DEFAULT_WEIGHTS) and weights["source"] < 0 < DEFAULT_WEIGHTS["source"]
    )
    assert stored.scoring["calibration"] == {
        "at": NOW.isoformat(),
        "outcomes": OUTCOMES,
        "auc_before": report.auc_before,
        "auc_after": report.auc_after,
        "applied": True,
    }
    assert isinstance(stored.scoring["bias"], float)
    # The model now in use is the fitted one, and the open leads were rescored with it.
    model = model_for(stored)
    assert model.weights["source"] == weights["source"] and model.bias == stored.scoring["bias"]
    portal, referral = fresh(session, Lead, ids[1]), session.get(Lead, ids[2])
    assert portal.score > referral.score
    assert portal.score == score_lead(features_of(portal), now=NOW, model=model).score
    [entry] = session.execute(
        select(AuditLog).where(AuditLog.action == "scoring.calibrated")
    ).scalars()
    assert entry.tenant_id == ids[0] and entry.after == stored.scoring["calibration"]
    assert entry.actor_label == "job:calibrate_scoring"


def test_outcomes_the_weights_already_rank_keep_the_weights(session) -> None:
    tenant = make_tenant(session, scoring={"weights": {"replies": 20.0}, "median_budget_cents": 5})
    # Referrals convert, portal leads do not: exactly what the default weights believe.
    closed_leads(session, tenant, OUTCOMES, won=lambda i, source: source == "referral")
    lead = make_lead(session, tenant, status=LeadStatus.ENGAGED, score=33)

    report = jobs.calibrate_tenant(session, tenant, now=NOW)

    assert not report.applied and report.auc_before == 1.0
    assert report.auc_after <= report.auc_before + jobs.MIN_GAIN
    assert report.reason == "kept the current weights (no better on held-out leads)"
    stored = fresh(session, Tenant, tenant.id)
    assert stored.scoring["weights"] == {"replies": 20.0} and "bias" not in stored.scoring
    assert stored.scoring["median_budget_cents"] == 5
    assert stored.scoring["calibration"]["applied"] is False
    assert stored.scoring["calibration"]["auc_before"] == 1.0
    assert session.get(Lead, lead.id).score == 33  # nothing rescored


def test_calibrate_scoring_reports_every_real_tenant(session) -> None:
    small = make_tenant(session, location_id="small-office")
    closed_leads(session, small, 10, won=lambda i, source: i % 2 == 0)
    big = make_tenant(session, location_id="big-office")
    closed_leads(session, big, OUTCOMES, won=lambda i, source: source == "portal")
    make_tenant(session, location_id="demo-sandbox", demo_expires_at=NOW + timedelta(hours=1))

    result = jobs.calibrate_scoring(session, NOW)

    assert set(result) == {"tenants", "applied", "small-office", "big-office"}
    assert (result["tenants"], result["applied"]) == (2, 1)
    assert result["small-office"] == {
        "outcomes": 10,
        "auc_before": None,
        "auc_after": None,
        "applied": False,
        "note": "needs 200 closed outcomes of both kinds; has 10",
    }
    detail = result["big-office"]
    assert detail["applied"] is True and detail["outcomes"] == OUTCOMES
    assert detail["auc_after"] > detail["auc_before"]
    assert fresh(session, Tenant, big.id).scoring["weights"]["source"] < 0


def test_calibrate_scoring_stores_weights_for_every_tenant_that_improves(session) -> None:
    offices = [make_tenant(session) for _ in range(2)]
    for tenant in offices:
        closed_leads(session, tenant, OUTCOMES, won=lambda i, source: source == "portal")
        make_lead(session, tenant, status=LeadStatus.ENGAGED)

    result = jobs.calibrate_scoring(session, NOW)

    assert result["applied"] == 2
    for tenant in offices:
        assert "weights" in fresh(session, Tenant, tenant.id).scoring


# ------------------------------------------------------------------------------ rescoring
def silent_lead(session, tenant, *, days: int, **fields) -> Lead:
    """A lead we last wrote to `days` ago who never answered, scored as it stood back then."""
    wrote = NOW - timedelta(days=days)
    lead = make_lead(
        session,
        tenant,
        source="referral",
        status=LeadStatus.CONTACTED,
        created_at=wrote - timedelta(hours=1),
        last_outbound_at=wrote,
        **fields,
    )
    then = score_lead(features_of(lead), now=wrote, model=model_for(tenant))
    lead.score, lead.temperature, lead.score_factors = (
        then.score,
        then.temperature,
        then.factors_json(),
    )
    session.flush()
    return lead


def test_silence_lowers_the_score_and_records_the_change(session) -> None:
    tenant = make_tenant(session)
    lead = silent_lead(session, tenant, days=20)
    before, lead_id = lead.score, lead.id

    changed = jobs.rescore_tenant(session, tenant, now=NOW)

    assert changed == 1
    lead = fresh(session, Lead, lead_id)
    assert lead.score < before
    silence = next(f for f in lead.score_factors if f["factor"] == "silence")
    assert silence["label"] == "Silent 20 days" and silence["points"] == round(-45 * 20 / 30)
    assert sum(f["points"] for f in lead.score_factors) == lead.score
    [activity] = activities(session, lead_id)
    assert activity.occurred_at == NOW and activity.tenant_id == tenant.id
    assert activity.data == {
        "from": before,
        "to": lead.score,
        "temperature": str(lead.temperature),
        "by": "decay",
    }


def test_an_unchanged_score_writes_nothing(session) -> None:
    tenant = make_tenant(session)
    lead = make_lead(session, tenant, source="web_form", created_at=NOW - timedelta(days=10))
    now_result = score_lead(features_of(lead), now=NOW, model=model_for(tenant))
    lead.score, lead.temperature, lead.score_factors = (
        now_result.score,
        now_result.temperature,
        now_result.factors_json(),
    )
    session.flush()
    updated_at, lead_id = lead.updated_at, lead.id

    assert jobs.rescore_tenant(session, tenant, now=NOW) == 0

    lead = fresh(session, Lead, lead_id)
    assert lead.score == now_result.score and lead.updated_at == updated_at
    assert activities(session, lead_id) == []


def test_closed_leads_and_other_tenants_are_left_alone(session) -> None:
    tenant, other = make_tenant(session), make_tenant(session)
    won = silent_lead(session, tenant, days=20)
    won.status = LeadStatus.CONVERTED
    theirs = silent_lead(session, other, days=20)
    session.flush()
    ids, scores = (won.id, theirs.id), (won.score, theirs.score)

    assert jobs.rescore_tenant(session, tenant, now=NOW) == 0

    assert (fresh(session, Lead, ids[0]).score, session.get(Lead, ids[1]).score) == scores
    assert activities(session, ids[0]) == activities(session, ids[1]) == []


def test_rescore_leads_refreshes_the_median_and_rescores_every_tenant(session) -> None:
    tenant = make_tenant(session)
    for cents in (10_000_00, 30_000_00, 50_000_00):
        make_lead(session, tenant, est_value_cents=cents, status=LeadStatus.CONVERTED)
    lead = silent_lead(session, tenant, days=12)
    lead_id, before = lead.id, lead.score

    result = jobs.rescore_leads(session, NOW)

    assert result["leads_rescored"] == 1
    # The rescoring's factor changes are folded into the office's totals straight away.
    assert result["factor_changes_folded"] >= 1
    assert session.execute(select(LeadFactorDelta)).first() is None

    assert fresh(session, Tenant, tenant.id).scoring["median_budget_cents"] == 30_000_00
    assert fresh(session, Lead, lead_id).score < before
    assert len(activities(session, lead_id)) == 1


def test_rescore_leads_stores_the_median_budget_of_every_tenant(session) -> None:
    offices = [make_tenant(session) for _ in range(2)]
    for tenant in offices:
        for cents in (10_000_00, 30_000_00, 50_000_00):
            make_lead(session, tenant, est_value_cents=cents)

    jobs.rescore_leads(session, NOW)

    medians = [fresh(session, Tenant, t.id).scoring.get("median_budget_cents") for t in offices]
    assert medians == [30_000_00, 30_000_00]


# ------------------------------------------------------------------------------ command line
def test_run_job_calibrate_scoring_prints_the_report(app_database, capsys) -> None:
    from recovery_app.cli import main
    from recovery_app.db import session_scope

    with session_scope() as s:
        tenant = make_tenant(s, location_id="cli-office")
        closed_leads(s, tenant, OUTCOMES, won=lambda i, source: source == "portal")
        tenant_id = tenant.id

    assert main(["run-job", "calibrate-scoring"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "calibrate_scoring: tenants=1, applied=1"
    assert lines[1].startswith("  cli-office: outcomes=240, auc_before=0.")
    assert ", applied=True, note=new weights rank outcomes better" in lines[1]
    with session_scope() as s:
        assert s.get(Tenant, tenant_id).scoring["calibration"]["applied"] is True
