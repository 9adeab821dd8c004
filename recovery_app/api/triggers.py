"""REST API for behavioral trigger rules under /api/v1/recovery/triggers (Bearer API key,
manager keys only). The models below give the JSON its shape; the service checks the values, so
the routes and the settings page share one set of rules and one error format."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from recovery_app.api.deps import ApiViewer
from recovery_app.api.types import PathId
from recovery_app.db import session_scope
from recovery_app.domain.campaigns import trigger_rules
from recovery_app.domain.ids import SmallCount
from recovery_app.models import TriggerRule

router = APIRouter(prefix="/recovery/triggers", tags=["triggers"])


class TriggerRuleIn(BaseModel):
    """A new rule. event: email_open | email_click | reply_keywords | form_resubmitted |
    no_open; action: raise_score {"points"} | alert_agent {"channels"} | move_campaign
    {"campaign_id"} | pause_nurture | mark_hot."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    event: str = Field(max_length=32)
    action: str = Field(max_length=32)
    threshold: SmallCount = 1
    window_hours: SmallCount = 24
    keywords: list[str] = Field(default_factory=list, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class TriggerRulePatch(BaseModel):
    """Only the fields sent change; the rule is checked again as a whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    event: str | None = Field(default=None, max_length=32)
    action: str | None = Field(default=None, max_length=32)
    threshold: SmallCount | None = None
    window_hours: SmallCount | None = None
    keywords: list[str] | None = Field(default=None, max_length=100)
    params: dict[str, Any] | None = None
    enabled: bool | None = None


class TriggerRuleOut(BaseModel):
    id: int
    name: str
    enabled: bool
    event: str
    threshold: int
    window_hours: int
    keywords: list[str]
    action: str
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, rule: TriggerRule) -> "TriggerRuleOut":
        return cls.model_validate(rule, from_attributes=True)


class TriggerRuleListOut(BaseModel):
    items: list[TriggerRuleOut]
    next_cursor: str | None = None


@router.get("", response_model=TriggerRuleListOut, summary="The tenant's trigger rules")
def list_rules(viewer: ApiViewer) -> TriggerRuleListOut:
    with session_scope() as session:
        rules = trigger_rules.list_rules(session, viewer=viewer)
        return TriggerRuleListOut(items=[TriggerRuleOut.of(rule) for rule in rules])


@router.post("", status_code=201, response_model=TriggerRuleOut, summary="Create a trigger rule")
def create_rule(body: TriggerRuleIn, viewer: ApiViewer) -> TriggerRuleOut:
    with session_scope() as session:
        rule = trigger_rules.create_rule(
            session, viewer=viewer, data=body.model_dump(), now=datetime.now(UTC)
        )
        return TriggerRuleOut.of(rule)


@router.patch("/{rule_id}", response_model=TriggerRuleOut, summary="Change a trigger rule")
def update_rule(rule_id: PathId, body: TriggerRulePatch, viewer: ApiViewer) -> TriggerRuleOut:
    with session_scope() as session:
        rule = trigger_rules.update_rule(
            session,
            viewer=viewer,
            rule_id=rule_id,
            changes=body.model_dump(exclude_unset=True),
            now=datetime.now(UTC),
        )
        return TriggerRuleOut.of(rule)


@router.delete("/{rule_id}", status_code=204, summary="Delete a trigger rule")
def delete_rule(rule_id: PathId, viewer: ApiViewer) -> Response:
    with session_scope() as session:
        trigger_rules.delete_rule(session, viewer=viewer, rule_id=rule_id, now=datetime.now(UTC))
    return Response(status_code=204)
