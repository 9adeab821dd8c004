"""Scoring jobs: hourly rescoring (silence grows, so unanswered leads cool without anyone
touching them) and per-tenant calibration of the weights to the tenant's own outcomes."""

import logging
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.audit import service as audit
from recovery_app.domain.crm import writeback as crm
from recovery_app.domain.metrics import running_totals
from recovery_app.domain.scoring.schemas import FEATURES
from recovery_app.domain.scoring.service import feature_values, features_of, model_for, score_lead
from recovery_app.models import Activity, ActivityKind, Lead, LeadStatus, Tenant, pk

logger = logging.getLogger(__name__)

MIN_OUTCOMES = 200
BATCH = 2000
# Calibrated weights put one logit at 10 points around 50: hot (>= 70) is p(convert) >= 0.88.
POINTS_PER_LOGIT = 10.0
MIN_GAIN = 0.005
CLOSED = (LeadStatus.CONVERTED, LeadStatus.LOST)


def refresh_median_budget(session: Session, tenant: Tenant) -> int | None:
    """Store the tenant's median stated budget (what "budget over the office median" means)."""
    budgets = (
        session.execute(
            select(col(Lead.est_value_cents)).where(
                col(Lead.tenant_id) == tenant.id, col(Lead.est_value_cents).is_not(None)
            )
        )
        .scalars()
        .all()
    )
    known = [b for b in budgets if b is not None]
    median = int(statistics.median(known)) if known else None
    if median != (tenant.scoring or {}).get("median_budget_cents"):
        tenant.scoring = {**(tenant.scoring or {}), "median_budget_cents": median}
    return median


def rescore_tenant(session: Session, tenant: Tenant, *, now: datetime) -> int:
    """Rescore the tenant's open leads; write only those that changed (with their history)."""
    model = model_for(tenant)
    changed = 0
    last_id = 0
    while True:
        leads = (
            session.execute(
                select(Lead)
                .where(
                    col(Lead.tenant_id) == tenant.id,
                    col(Lead.status).not_in(CLOSED),
                    col(Lead.id) > last_id,
                )
                .order_by(col(Lead.id))
                .limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not leads:
            return changed
        last_id = pk(leads[-1])
        updates: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        moved: set[int] = set()
        for lead in leads:
            result = score_lead(features_of(lead), now=now, model=model)
            factors = result.factors_json()
            if result.score == lead.score and factors == lead.score_factors:
                continue
            if result.score != lead.score or result.temperature != lead.temperature:
                moved.add(pk(lead))
            updates.append(
                {
                    "id": lead.id,
                    "score": result.score,
                    "temperature": result.temperature,
                    "score_factors": factors,
                }
            )
            if result.score != lead.score:
                history.append(
                    {
                        "tenant_id": lead.tenant_id,
                        "lead_id": lead.id,
                        "kind": ActivityKind.SCORE_CHANGED,
                        "occurred_at": now,
                        "data": {
                            "from": lead.score,
                            "to": result.score,
                            "temperature": str(result.temperature),
                            "by": "decay",
                        },
                    }
                )
        # The bulk UPDATE below is the write; drop the loaded leads (only them: the caller's
        # tenant and anything else it holds must stay attached so its own changes are saved).
        for lead in leads:
            session.expunge(lead)
        if updates:
            session.execute(update(Lead), updates)
            changed += len(updates)
            # Offices syncing with GoHighLevel get the new score and temperature fields.
            crm.leads_changed(
                session,
                tenant_id=pk(tenant),
                lead_ids=[u["id"] for u in updates if u["id"] in moved],
                kind="fields",
                now=now,
            )
        if history:
            session.execute(insert(Activity), history)


def rescore_leads(session: Session, now: datetime) -> dict[str, int]:
    changed = 0
    for tenant in session.execute(select(Tenant)).scalars().all():
        refresh_median_budget(session, tenant)
        session.flush()
        changed += rescore_tenant(session, tenant, now=now)
    # Rescoring is the biggest writer of factor changes: fold them now rather than leave
    # every read of the factor effects adding them up until the hourly rollup.
    folded = running_totals.fold(session)
    return {"leads_rescored": changed, "factor_changes_folded": folded["lead_factor_changes"]}


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    location_id: str
    outcomes: int
    auc_before: float | None
    auc_after: float | None
    applied: bool
    reason: str


def _outcome_time(lead: Lead) -> datetime:
    return lead.converted_at or lead.status_changed_at or lead.updated_at


def calibrate_tenant(
    session: Session, tenant: Tenant, *, now: datetime, seed: int = 0
) -> CalibrationReport:
    """Fit the weights to the tenant's closed outcomes with logistic regression; keep them only
    if they rank held-out outcomes better (AUC) than the weights in use."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    closed = (
        session.execute(
            select(Lead).where(col(Lead.tenant_id) == tenant.id, col(Lead.status).in_(CLOSED))
        )
        .scalars()
        .all()
    )
    y = [1 if lead.status == LeadStatus.CONVERTED else 0 for lead in closed]
    if len(closed) < MIN_OUTCOMES or len(set(y)) < 2:
        return CalibrationReport(
            tenant.location_id,
            len(closed),
            None,
            None,
            False,
            f"needs {MIN_OUTCOMES} closed outcomes of both kinds; has {len(closed)}",
        )
    current = model_for(tenant)
    # Features as they stood when each lead closed, not today (no leakage from later silence).
    features = [features_of(lead) for lead in closed]
    moments = [_outcome_time(lead) for lead in closed]
    matrix = [
        [feature_values(f, current, now=t)[name] for name in FEATURES]
        for f, t in zip(features, moments, strict=True)
    ]
    scores = [
        score_lead(f, now=t, model=current).score for f, t in zip(features, moments, strict=True)
    ]
    idx = list(range(len(closed)))
    train, test = train_test_split(idx, test_size=0.3, random_state=seed, stratify=y)
    before = float(roc_auc_score([y[i] for i in test], [scores[i] for i in test]))
    fitted = LogisticRegression(C=1.0, max_iter=2000).fit(
        [matrix[i] for i in train], [y[i] for i in train]
    )
    after = float(
        roc_auc_score([y[i] for i in test], fitted.decision_function([matrix[i] for i in test]))
    )
    applied = after > before + MIN_GAIN
    scoring = dict(tenant.scoring or {})
    if applied:
        scoring["weights"] = {
            name: round(POINTS_PER_LOGIT * float(c), 2)
            for name, c in zip(FEATURES, fitted.coef_[0], strict=True)
        }
        scoring["bias"] = round(50 + POINTS_PER_LOGIT * float(fitted.intercept_[0]), 2)
    scoring["calibration"] = {
        "at": now.isoformat(),
        "outcomes": len(closed),
        "auc_before": round(before, 4),
        "auc_after": round(after, 4),
        "applied": applied,
    }
    tenant.scoring = scoring
    audit.record(
        session,
        action="scoring.calibrated",
        entity_type="tenant",
        entity_id=tenant.id,
        tenant_id=tenant.id,
        actor_label="job:calibrate_scoring",
        after=scoring["calibration"],
    )
    reason = (
        "new weights rank outcomes better"
        if applied
        else "kept the current weights (no better on held-out leads)"
    )
    if applied:
        rescore_tenant(session, tenant, now=now)
    return CalibrationReport(
        tenant.location_id, len(closed), round(before, 4), round(after, 4), applied, reason
    )


def calibrate_scoring(session: Session, now: datetime) -> dict[str, Any]:
    reports = [
        calibrate_tenant(session, tenant, now=now)
        for tenant in session.execute(select(Tenant).where(col(Tenant.demo_expires_at).is_(None)))
        .scalars()
        .all()
    ]
    for report in reports:
        logger.info("calibration %s", report)
    result: dict[str, Any] = {"tenants": len(reports), "applied": sum(r.applied for r in reports)}
    for report in reports:
        result[report.location_id] = {
            "outcomes": report.outcomes,
            "auc_before": report.auc_before,
            "auc_after": report.auc_after,
            "applied": report.applied,
            "note": report.reason,
        }
    return result
