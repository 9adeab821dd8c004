"""A campaign's audience rule: which leads of the tenant it is for, as SQL.

A rule is a small JSON object, e.g.
`{"status": ["silent"], "temperature": ["warm", "hot"], "min_score": 40, "silent_for_hours": 168,
"source": ["web_form"], "tags": ["buyer"], "assigned_user_id": [3]}`; every key narrows the
audience, an absent key does not. The rule is checked once (`clean_audience`) and then turned into
WHERE clauses, so counting, sampling and enrolling a million leads are single statements.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, exists, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.leads.repository import silent_for
from recovery_app.errors import ValidationFailed
from recovery_app.models import Lead, LeadStatus, Temperature
from recovery_app.models.lead import TAGGED_SQL

LIST_KEYS = ("status", "temperature", "source", "tags", "assigned_user_id")
NUMBER_KEYS = ("min_score", "max_score", "silent_for_hours")
CLOSED = (LeadStatus.CONVERTED, LeadStatus.LOST)


def clean_audience(rule: dict[str, Any] | None) -> dict[str, Any]:
    """The rule with known keys only, values checked and normalised; ValidationFailed naming
    the field otherwise."""
    rule = dict(rule or {})
    unknown = sorted(set(rule) - set(LIST_KEYS) - set(NUMBER_KEYS))
    if unknown:
        raise ValidationFailed(
            "Unknown audience fields.", fields={f"audience.{key}": "unknown" for key in unknown}
        )
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    allowed: dict[str, set[str]] = {
        "status": {str(s) for s in LeadStatus},
        "temperature": {str(t) for t in Temperature},
    }
    for key in LIST_KEYS:
        value = rule.get(key)
        if value in (None, [], ""):
            continue
        values = value if isinstance(value, list) else [value]
        if key == "assigned_user_id":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                errors[f"audience.{key}"] = "a list of user ids"
                continue
        elif not all(isinstance(v, str) and 0 < len(v) <= 64 for v in values):
            errors[f"audience.{key}"] = "a list of names"
            continue
        if key in allowed and not set(values) <= allowed[key]:
            errors[f"audience.{key}"] = "one of " + ", ".join(sorted(allowed[key]))
            continue
        clean[key] = sorted(set(values), key=str)
    for key in NUMBER_KEYS:
        value = rule.get(key)
        if value is None or value == "":
            continue
        limit = 100 if key.endswith("score") else 24 * 366
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
            errors[f"audience.{key}"] = f"a whole number from 0 to {limit}"
            continue
        clean[key] = value
    if "min_score" in clean and "max_score" in clean and clean["min_score"] > clean["max_score"]:
        errors["audience.max_score"] = "at least the minimum score"
    if errors:
        raise ValidationFailed("Check the audience rule.", fields=errors)
    return clean


def audience_clauses(
    session: Session, rule: dict[str, Any], *, tenant_id: int, now: datetime
) -> list[ColumnElement[bool]]:
    """WHERE clauses for the leads of `tenant_id` that `rule` selects. Converted and lost leads
    and leads nobody may message any more (opted out of both channels) are never in it unless
    the rule asks for those statuses by name."""
    clauses: list[ColumnElement[bool]] = [col(Lead.tenant_id) == tenant_id]
    statuses = rule.get("status")
    if statuses:
        clauses.append(col(Lead.status).in_(statuses))
    else:
        clauses.append(col(Lead.status).not_in(CLOSED))
    clauses.append(
        or_(
            and_(col(Lead.phone).is_not(None), col(Lead.opted_out_sms).is_(False)),
            and_(col(Lead.email).is_not(None), col(Lead.opted_out_email).is_(False)),
        )
    )
    if rule.get("temperature"):
        clauses.append(col(Lead.temperature).in_(rule["temperature"]))
    if rule.get("source"):
        clauses.append(col(Lead.source).in_(rule["source"]))
    if rule.get("assigned_user_id"):
        clauses.append(col(Lead.assigned_user_id).in_(rule["assigned_user_id"]))
    if rule.get("min_score") is not None:
        clauses.append(col(Lead.score) >= rule["min_score"])
    if rule.get("max_score") is not None:
        clauses.append(col(Lead.score) <= rule["max_score"])
    if rule.get("silent_for_hours") is not None:
        clauses.append(silent_for(rule["silent_for_hours"], now))
    if rule.get("tags"):
        clauses.append(_has_any_tag(session, rule["tags"]))
    return clauses


def _has_any_tag(session: Session, tags: list[str]) -> ColumnElement[bool]:
    """The lead's JSON `tags` list shares at least one value with `tags`."""
    dialect = session.get_bind().dialect.name
    # Implied by the test itself; spelled out (inline, not a parameter) so the planner may
    # read the partial index of tagged leads instead of every open lead.
    tagged = text(f"leads.{TAGGED_SQL[dialect]}")
    if dialect == "postgresql":
        return and_(tagged, col(Lead.tags).op("?|")(literal(tags, ARRAY(Text()))))
    each = func.json_each(col(Lead.tags)).table_valued("value").alias("tag")
    return and_(tagged, exists(select(text("1")).select_from(each).where(each.c.value.in_(tags))))


def count_matching(session: Session, rule: dict[str, Any], *, tenant_id: int, now: datetime) -> int:
    clauses = audience_clauses(session, rule, tenant_id=tenant_id, now=now)
    return int(session.execute(select(func.count()).select_from(Lead).where(*clauses)).scalar_one())


def sample_matching(
    session: Session, rule: dict[str, Any], *, tenant_id: int, now: datetime, limit: int = 5
) -> list[Lead]:
    """A few matching leads (highest score first), to show who a rule picks. Their ids first,
    from the rank index alone (ix_leads_tenant_rank: the rule's columns are in it), then the
    few leads: a rule that few top leads match costs index entries, not table rows."""
    clauses = audience_clauses(session, rule, tenant_id=tenant_id, now=now)
    rank = (col(Lead.score).desc(), col(Lead.id))
    best = select(col(Lead.id)).where(*clauses).order_by(*rank).limit(limit)
    query = select(Lead).where(col(Lead.id).in_(best.scalar_subquery())).order_by(*rank)
    return list(session.execute(query).scalars())
