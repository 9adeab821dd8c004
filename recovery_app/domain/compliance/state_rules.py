"""State rules for marketing texts, as data: `state_rules.json` beside this module (FL, OK, MD,
TX, AL, LA as of late 2026 - a starting list to check, not legal advice), merged with the
operator's STATE_RULES_FILE (same shape: add or change states without a code change) and the
older STATE_QUIET_HOURS ("FL=08:00-20:00,..."), whose windows narrow a state's further.

Each rule may narrow the hours (Monday-Saturday, and Sunday apart), forbid Sundays or the
state's legal holidays (from the `holidays` package), cap marketing messages per 24 hours,
and start on a date.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from datetime import date, time
from pathlib import Path
from typing import Any

import holidays as holiday_calendars

from recovery_app.settings import Settings, get_settings

DATA = Path(__file__).with_name("state_rules.json")


@dataclass(frozen=True, slots=True)
class StateRule:
    state: str
    law: str = ""
    window: tuple[time, time] | None = None  # Monday-Saturday (and Sunday, unless `sunday`)
    sunday: tuple[time, time] | None = None
    no_sundays: bool = False
    no_holidays: bool = False
    max_marketing_per_24h: int | None = None
    since: date | None = None

    def in_force(self, day: date) -> bool:
        return self.since is None or day >= self.since

    def span_on(self, day: date) -> tuple[time, time] | None:
        """The hours this rule allows on `day` (None: none at all that day)."""
        if not self.in_force(day):
            return (time(0), time(23, 59, 59))
        sunday = day.weekday() == 6
        if (sunday and self.no_sundays) or (self.no_holidays and is_holiday(self.state, day)):
            return None
        if sunday and self.sunday is not None:
            return self.sunday
        return self.window or (time(0), time(23, 59, 59))


@functools.lru_cache(maxsize=256)
def _calendar(state: str, year: int) -> frozenset[date]:
    try:
        found = holiday_calendars.country_holidays("US", subdiv=state, years=year)
    except (KeyError, NotImplementedError):
        return frozenset()
    return frozenset(found)


def is_holiday(state: str, day: date) -> bool:
    """A legal holiday of the state (federal ones included) on `day`."""
    return day in _calendar(state, day.year)


def _hhmm(value: Any, where: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(str(v)) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{where}: expected ["HH:MM", "HH:MM"]') from None
    if start >= end:
        raise ValueError(f"{where}: the window must end after it starts")
    return start, end


def parse(data: dict[str, Any], *, source: str) -> dict[str, StateRule]:
    """Rules from a JSON object of {"XX": {...}}; ValueError naming what is malformed."""
    rules: dict[str, StateRule] = {}
    for key, spec in data.items():
        if key.startswith("_"):
            continue
        state = key.strip().upper()
        if len(state) != 2 or not state.isalpha() or not isinstance(spec, dict):
            raise ValueError(f"{source}: {key!r} is not a two-letter state with an object")
        where = f"{source} {state}"
        cap = spec.get("max_marketing_per_24h")
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 0):
            raise ValueError(f"{where}: max_marketing_per_24h is a whole number")
        since = spec.get("since")
        try:
            since_day = date.fromisoformat(since) if since else None
        except (TypeError, ValueError):
            raise ValueError(f"{where}: since is a date like 2025-09-01") from None
        rules[state] = StateRule(
            state=state,
            law=str(spec.get("law", "")),
            window=_hhmm(spec["window"], f"{where} window") if "window" in spec else None,
            sunday=_hhmm(spec["sunday"], f"{where} sunday") if "sunday" in spec else None,
            no_sundays=bool(spec.get("no_sundays", False)),
            no_holidays=bool(spec.get("no_holidays", False)),
            max_marketing_per_24h=cap,
            since=since_day,
        )
    return rules


def _narrowed(rule: StateRule, window: tuple[time, time]) -> StateRule:
    base = rule.window or window
    tighter = (max(base[0], window[0]), min(base[1], window[1]))
    return replace(rule, window=tighter)


@functools.lru_cache(maxsize=8)
def _rules_for(extra_file: str, quiet_hours: tuple[tuple[str, time, time], ...]) -> dict:
    rules = parse(json.loads(DATA.read_text()), source=DATA.name)
    if extra_file:
        path = Path(extra_file)
        rules |= parse(json.loads(path.read_text()), source=str(path))
    for state, start, end in quiet_hours:
        rule = rules.get(state, StateRule(state=state))
        rules[state] = _narrowed(rule, (start, end))
    return rules


def rules(settings: Settings | None = None) -> dict[str, StateRule]:
    """Every state's rule for this configuration (read once per configuration)."""
    settings = settings or get_settings()
    quiet = tuple(sorted((s, a, b) for s, (a, b) in settings.state_rules.items()))
    return _rules_for(settings.state_rules_file or "", quiet)
