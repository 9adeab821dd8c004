"""Behavioral triggers (managers): the office's rules in words, switch them on and off, add one,
delete one, add the starter set. The rules' meaning and checks live in the domain."""

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx

from recovery_app.domain.campaigns import service as campaigns
from recovery_app.domain.campaigns import trigger_rules
from recovery_app.domain.ids import is_id
from recovery_app.errors import ValidationFailed
from recovery_app.states.db import in_session
from recovery_app.states.notices import notice
from recovery_app.states.session import Choice, SessionState


class RuleRow(TypedDict):
    id: str
    name: str
    summary: str
    enabled: bool


class TriggersState(SessionState):
    rules: list[RuleRow] = []
    campaign_choices: list[Choice] = []
    event: str = "email_open"
    action: str = "raise_score"
    errors: dict[str, str] = {}

    async def _reload(self) -> None:
        viewer = await self._manager_viewer("behavioral triggers")

        def read(s: Any) -> tuple[list[RuleRow], list[Choice]]:
            rules = [
                RuleRow(
                    id=str(r.id),
                    name=r.name,
                    summary=trigger_rules.describe(r),
                    enabled=r.enabled,
                )
                for r in trigger_rules.list_rules(s, viewer=viewer)
            ]
            choices = [
                Choice(value=str(c.id), label=c.name)
                for c in campaigns.enrollable_campaigns(s, viewer=viewer)
            ]
            return rules, choices

        self.rules, self.campaign_choices = await in_session(read)

    @rx.event
    async def load(self):
        await self._reload()

    @rx.event
    def set_event(self, value: str):
        self.event = value

    @rx.event
    def set_action(self, value: str):
        self.action = value

    @rx.event
    async def create(self, form: dict[str, Any]):
        viewer, now = await self._viewer(), datetime.now(UTC)
        data = _rule_data(form, self.event, self.action)
        try:
            await in_session(
                lambda s: trigger_rules.create_rule(s, viewer=viewer, data=data, now=now)
            )
        except ValidationFailed as exc:
            self.errors = dict(exc.fields or {})
            return notice.error("Check the rule: " + "; ".join(self.errors.values()))
        self.errors = {}
        await self._reload()
        return notice.success("Rule added.")

    @rx.event
    async def set_enabled(self, rule_id: str, enabled: bool):
        viewer, now = await self._viewer(), datetime.now(UTC)
        await in_session(
            lambda s: trigger_rules.update_rule(
                s, viewer=viewer, rule_id=int(rule_id), changes={"enabled": enabled}, now=now
            )
        )
        await self._reload()

    @rx.event
    async def delete(self, rule_id: str):
        viewer, now = await self._viewer(), datetime.now(UTC)
        await in_session(
            lambda s: trigger_rules.delete_rule(s, viewer=viewer, rule_id=int(rule_id), now=now)
        )
        await self._reload()
        return notice.success("Rule deleted.")

    @rx.event
    async def install_defaults(self):
        viewer, now = await self._viewer(), datetime.now(UTC)
        added = await in_session(
            lambda s: trigger_rules.install_defaults(s, viewer=viewer, now=now)
        )
        await self._reload()
        return notice.success(f"Added {added} starter rule(s).")


def _rule_data(form: dict[str, Any], event: str, action: str) -> dict[str, Any]:
    """The form's strings as the rule's fields; a number that is not one is passed on as
    text so the domain's check names the field."""

    def number(name: str, default: int) -> Any:
        raw = str(form.get(name, "") or "").strip()
        return int(raw) if is_id(raw) else (raw or default)

    params: dict[str, Any] = {}
    if action == "raise_score":
        params["points"] = number("points", 10)
    elif action == "alert_agent":
        params["channels"] = [
            c for c in ("in_app", "sms", "email") if form.get(f"channel_{c}") in ("on", True)
        ] or ["in_app"]
    elif action == "move_campaign":
        params["campaign_id"] = number("campaign_id", 0)
    keywords = [k.strip() for k in str(form.get("keywords", "")).split(",") if k.strip()]
    return {
        "name": str(form.get("name", "")),
        "event": event,
        "threshold": number("threshold", 1),
        "window_hours": number("window_hours", 24),
        "keywords": keywords,
        "action": action,
        "params": params,
    }
