"""A campaign's send window in the lead's local time: which days, which hours."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recovery_app.domain.campaigns.schemas import DEFAULT_SEND_WINDOW

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class SendWindow:
    days: frozenset[int]
    start: time
    end: time

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> "SendWindow":
        config = {**DEFAULT_SEND_WINDOW, **(config or {})}
        return cls(
            frozenset(int(d) for d in config["days"]),
            time.fromisoformat(config["start"]),
            time.fromisoformat(config["end"]),
        )

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_start(self, moment: datetime, zone: str) -> datetime:
        """`moment` when `zone` is inside the window, else the window's next opening (UTC)."""
        tz = ZoneInfo(zone)
        local = moment.astimezone(tz)
        if self.contains(local):
            return moment
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=tz)
            if opening > local:
                return opening.astimezone(UTC)
        return moment + timedelta(days=7)  # no day chosen: cannot happen after validation


def next_opening(moment: datetime, zones: tuple[str, ...], window: SendWindow) -> datetime:
    """The first moment >= `moment` at which every zone is inside the window (a number whose
    area code spans two zones waits for both); `moment` itself when they already are."""
    if not zones:
        zones = ("UTC",)
    candidate = moment
    for _ in range(8):
        later = max(window.next_start(candidate, zone) for zone in zones)
        if all(window.contains(later.astimezone(ZoneInfo(zone))) for zone in zones):
            return later
        candidate = later + timedelta(minutes=1)
    return later


def describe_wait(until: datetime, zone: str, *, suggested: bool = False) -> str:
    local = until.astimezone(ZoneInfo(zone))
    window = "the suggested send window" if suggested else "the send window"
    return f"Outside {window} until {DAY_NAMES[local.weekday()]} {local:%H:%M} ({zone})"
