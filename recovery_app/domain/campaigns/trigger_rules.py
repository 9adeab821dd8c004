"""Managing behavioral trigger rules (managers only, every change audited like campaign
changes) and the starter set a new office gets. What a rule means and how it fires is in
`campaigns.triggers`; the checks here keep every stored rule one that module can run."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.campaigns.triggers import ACTIONS, ALERT_CHANNELS, EVENTS, forget_rules
from recovery_app.errors import NotFound, ValidationFailed
from recovery_app.models import Campaign, CampaignStatus, TriggerRule

MAX_KEYWORDS, MAX_KEYWORD_LENGTH = 20, 40
FIELDS = ("name", "enabled", "event", "threshold", "window_hours", "keywords", "action", "params")
# Examples that work for most offices; `install_default_rules` gives them to a tenant.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "Opened 2+ emails in 24 h",
        "event": "email_open",
        "threshold": 2,
        "window_hours": 24,
        "action": "raise_score",
        "params": {"points": 10},
    },
    {
        "name": "Reply mentions a tour, showing, pre-approval or offer",
        "event": "reply_keywords",
        "window_hours": 24,
        "action": "mark_hot",
    },
    {
        "name": "Hot reply: tell the agent",
        "event": "reply_keywords",
        "window_hours": 24,
        "action": "alert_agent",
        "params": {"channels": ["in_app", "sms"]},
    },
    {
        "name": "Clicked a link",
        "event": "email_click",
        "window_hours": 24,
        "action": "alert_agent",
        "params": {"channels": ["in_app"]},
    },
    {
        "name": "No open on 3 emails",
        "event": "no_open",
        "threshold": 3,
        "window_hours": 168,
        "action": "pause_nurture",
    },
)


def list_rules(session: Session, *, viewer: Viewer) -> list[TriggerRule]:
    require_manager(viewer, "see trigger rules")
    return list(
        session.execute(
            select(TriggerRule)
            .where(col(TriggerRule.tenant_id) == viewer.tenant_id)
            .order_by(col(TriggerRule.id))
        ).scalars()
    )


def get_rule(session: Session, *, viewer: Viewer, rule_id: int) -> TriggerRule:
    require_manager(viewer, "see trigger rules")
    rule = session.get(TriggerRule, rule_id)
    if rule is None or rule.tenant_id != viewer.tenant_id:
        raise NotFound("No such trigger rule.")
    return rule


def create_rule(
    session: Session, *, viewer: Viewer, data: Mapping[str, Any], now: datetime
) -> TriggerRule:
    """A new rule (managers); ValidationFailed names every bad field."""
    require_manager(viewer, "create trigger rules")
    values = _clean(session, viewer.tenant_id, {"enabled": True, **data})
    rule = TriggerRule(
        tenant_id=viewer.tenant_id,
        created_by_user_id=viewer.user_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    session.add(rule)
    session.flush()
    forget_rules(session, viewer.tenant_id)
    _audit(session, viewer, rule, "trigger_rule.created", None, _snapshot(rule))
    return rule


def update_rule(
    session: Session, *, viewer: Viewer, rule_id: int, changes: Mapping[str, Any], now: datetime
) -> TriggerRule:
    """Change some of a rule's fields (managers); the result is checked as a whole."""
    require_manager(viewer, "change trigger rules")
    rule = get_rule(session, viewer=viewer, rule_id=rule_id)
    before = _snapshot(rule)
    merged = {**before, **changes}
    if "action" in changes and "params" not in changes and changes["action"] != rule.action:
        merged["params"] = {}  # the old action's parameters mean nothing to the new one
    values = _clean(session, rule.tenant_id, merged, rule_id=rule.id)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_at = now
    session.flush()
    forget_rules(session, rule.tenant_id)
    _audit(session, viewer, rule, "trigger_rule.updated", before, _snapshot(rule))
    return rule


def delete_rule(session: Session, *, viewer: Viewer, rule_id: int, now: datetime) -> None:
    """Delete a rule (managers); its firings go with it."""
    require_manager(viewer, "delete trigger rules")
    rule = get_rule(session, viewer=viewer, rule_id=rule_id)
    _audit(session, viewer, rule, "trigger_rule.deleted", _snapshot(rule), None)
    session.delete(rule)
    session.flush()
    forget_rules(session, rule.tenant_id)


def install_defaults(session: Session, *, viewer: Viewer, now: datetime) -> int:
    """A manager adds the starter rules their office does not have yet (by name): how many."""
    require_manager(viewer, "create trigger rules")
    return install_default_rules(session, viewer.tenant_id, now=now)


def describe(rule: TriggerRule) -> str:
    """The rule in a sentence: "Opens 2+ emails within 24 h -> raise the score by 10"."""
    within = f"within {rule.window_hours} h"
    when = {
        "email_open": f"Opens {rule.threshold}+ email(s) {within}",
        "email_click": f"Clicks {rule.threshold}+ link(s) {within}",
        "reply_keywords": "Reply mentions "
        + ", ".join(rule.keywords or ("tour", "showing", "pre-approved", "offer")),
        "form_resubmitted": f"Sends a form again {rule.threshold}+ time(s) {within}",
        "no_open": f"No open on the last {rule.threshold} email(s)",
    }.get(rule.event, rule.event)
    params = rule.params or {}
    then = {
        "raise_score": f"raise the score by {params.get('points', 10)}",
        "alert_agent": "alert the agent ("
        + ", ".join(params.get("channels") or ["in_app"]).replace("in_app", "in app")
        + ")",
        "move_campaign": f"move to campaign #{params.get('campaign_id')}",
        "pause_nurture": "pause the nurture",
        "mark_hot": "mark hot",
    }.get(rule.action, rule.action)
    return f"{when} -> {then}"


def install_default_rules(session: Session, tenant_id: int, *, now: datetime | None = None) -> int:
    """Give a tenant `DEFAULT_RULES` (those whose name it does not have yet): how many."""
    now = now or datetime.now(UTC)
    taken = set(
        session.execute(
            select(col(TriggerRule.name)).where(col(TriggerRule.tenant_id) == tenant_id)
        ).scalars()
    )
    installed = 0
    for spec in DEFAULT_RULES:
        if spec["name"] in taken:
            continue
        rule = TriggerRule(
            tenant_id=tenant_id,
            created_at=now,
            updated_at=now,
            **_clean(session, tenant_id, {"enabled": True, **spec}),
        )
        session.add(rule)
        session.flush()
        forget_rules(session, tenant_id)
        _audit(session, None, rule, "trigger_rule.created", None, _snapshot(rule))
        installed += 1
    return installed


def _clean(
    session: Session, tenant_id: int, data: Mapping[str, Any], *, rule_id: int | None = None
) -> dict[str, Any]:
    """The rule's fields checked and normalised, or ValidationFailed naming each bad one."""
    errors: dict[str, str] = {}
    for unknown in sorted(set(data) - set(FIELDS)):
        errors[unknown] = "not a field of a trigger rule"
    name = data.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 120:
        errors["name"] = "1 to 120 characters"
    elif _name_taken(session, tenant_id, name, rule_id):
        errors["name"] = "another rule has this name"
    event, action = data.get("event"), data.get("action")
    if event not in EVENTS:
        errors["event"] = "one of " + ", ".join(EVENTS)
    if action not in ACTIONS:
        errors["action"] = "one of " + ", ".join(ACTIONS)
    threshold, window = data.get("threshold", 1), data.get("window_hours", 24)
    if not _int_in(threshold, 1, 50):
        errors["threshold"] = "a whole number from 1 to 50"
    if not _int_in(window, 1, 720):
        errors["window_hours"] = "a whole number of hours from 1 to 720 (30 days)"
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = "true or false"
    keywords = data.get("keywords") or []
    if not isinstance(keywords, list) or len(keywords) > MAX_KEYWORDS:
        errors["keywords"] = f"a list of at most {MAX_KEYWORDS} words or short phrases"
    elif any(
        not isinstance(k, str) or not 1 <= len(k.strip()) <= MAX_KEYWORD_LENGTH for k in keywords
    ):
        errors["keywords"] = f"each keyword 1 to {MAX_KEYWORD_LENGTH} characters"
    params = data.get("params") or {}
    if not isinstance(params, dict):
        errors["params"] = "an object"
    elif action in ACTIONS:
        errors.update(_check_params(session, tenant_id, str(action), params))
    if errors:
        raise ValidationFailed("Check the trigger rule.", fields=errors)
    return {
        "name": name,
        "enabled": enabled,
        "event": event,
        "threshold": threshold,
        "window_hours": window,
        "keywords": [k.strip() for k in keywords] if event == "reply_keywords" else [],
        "action": action,
        "params": _normal_params(str(action), params),
    }


def _check_params(
    session: Session, tenant_id: int, action: str, params: Mapping[str, Any]
) -> dict[str, str]:
    allowed = {
        "raise_score": {"points"},
        "alert_agent": {"channels"},
        "move_campaign": {"campaign_id"},
    }
    errors = {
        f"params.{key}": f"{action} does not take {key}"
        for key in sorted(set(params) - allowed.get(action, set()))
    }
    if action == "raise_score" and not _int_in(params.get("points"), 1, 50):
        errors["params.points"] = "a whole number of points from 1 to 50"
    if action == "alert_agent":
        channels = params.get("channels", ["in_app"])
        if (
            not isinstance(channels, list)
            or not channels
            or any(c not in ALERT_CHANNELS for c in channels)
        ):
            errors["params.channels"] = "a list of " + ", ".join(ALERT_CHANNELS)
    if action == "move_campaign":
        campaign_id = params.get("campaign_id")
        campaign = session.get(Campaign, campaign_id) if _int_in(campaign_id, 1, 2**63) else None
        if campaign is None or campaign.tenant_id != tenant_id or campaign.archived_at:
            errors["params.campaign_id"] = "no such campaign"
        elif campaign.status not in (CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED):
            errors["params.campaign_id"] = f"the campaign is {campaign.status}; launch it first"
    return errors


def _normal_params(action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if action == "alert_agent":
        channels = params.get("channels", ["in_app"])
        return {"channels": [c for c in ALERT_CHANNELS if c in channels]}
    return dict(params)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _name_taken(session: Session, tenant_id: int, name: str, rule_id: int | None) -> bool:
    query = select(col(TriggerRule.id)).where(
        col(TriggerRule.tenant_id) == tenant_id,
        func.lower(col(TriggerRule.name)) == name.lower(),
    )
    if rule_id is not None:
        query = query.where(col(TriggerRule.id) != rule_id)
    return session.execute(query.limit(1)).first() is not None


def _snapshot(rule: TriggerRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in FIELDS}


def _audit(
    session: Session,
    viewer: Viewer | None,
    rule: TriggerRule,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    audit.record(
        session,
        action=action,
        entity_type="trigger_rule",
        entity_id=rule.id,
        tenant_id=rule.tenant_id,
        actor=viewer,
        actor_label=None if viewer else "system",
        before=before,
        after=after,
    )
