"""What a campaign is made of, as the API and the pages send it. Checked here once, so the
service, the REST routes and the wizard share one set of rules."""

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from recovery_app.domain.ids import RowId
from recovery_app.models import CampaignGoal, Channel

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
CONDITIONS = ("not_opened",)
DEFAULT_SEND_WINDOW: dict[str, Any] = {"days": [0, 1, 2, 3, 4, 5], "start": "09:00", "end": "19:00"}


class SendWindow(BaseModel):
    """Days (0 = Monday) and hours in the lead's local time when steps may go out."""

    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(default_factory=lambda: list(DEFAULT_SEND_WINDOW["days"]))
    start: str = DEFAULT_SEND_WINDOW["start"]
    end: str = DEFAULT_SEND_WINDOW["end"]
    # Send-time optimisation: send in the window the office's reply history suggests (the
    # Scoring page's best window for the step's channel) instead of days/start/end, which
    # stay the fallback while there is not enough history to suggest one.
    optimize: bool = False

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if not days or any(d < 0 or d > 6 for d in days):
            raise ValueError("pick at least one day, 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.match(value):
            raise ValueError("a time like 09:00")
        return value

    @model_validator(mode="after")
    def _order(self) -> "SendWindow":
        if self.start >= self.end:
            raise ValueError("the window must end after it starts")
        return self


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    # Minutes after the previous step (after enrollment for the first); at most 90 days.
    delay_minutes: StrictInt = Field(default=0, ge=0, le=90 * 24 * 60)
    template_id: RowId | None = None
    subject: str | None = Field(default=None, max_length=255)
    body: str | None = Field(default=None, max_length=5000)
    ai_personalize: bool = False
    condition: str | None = None

    @field_validator("condition")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value not in CONDITIONS:
            raise ValueError("one of " + ", ".join(CONDITIONS))
        return value


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    goal: CampaignGoal = CampaignGoal.REPLY
    audience: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepIn] = Field(default_factory=list, max_length=20)
    send_window: SendWindow = Field(default_factory=SendWindow)
    always_on: bool = False
    autopilot: bool = True
    frequency_cap_per_day: StrictInt = Field(default=3, ge=1, le=20)
    starts_at: datetime | None = None


class CampaignPatch(BaseModel):
    """A partial change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    goal: CampaignGoal | None = None
    audience: dict[str, Any] | None = None
    steps: list[StepIn] | None = Field(default=None, max_length=20)
    send_window: SendWindow | None = None
    always_on: bool | None = None
    autopilot: bool | None = None
    frequency_cap_per_day: StrictInt | None = Field(default=None, ge=1, le=20)
    starts_at: datetime | None = None
    # "active" (launch or resume), "paused"; other statuses are reached through the engine.
    status: str | None = None
