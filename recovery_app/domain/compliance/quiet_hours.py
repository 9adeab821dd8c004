"""When a marketing text may reach a lead: their local time, inside every applicable window.

The lead's time zone comes from the lead, else from the phone number (an area code can span two
zones: then the text must be allowed in all of them), else from the tenant. The window is the
legal 08:00-21:00, narrowed by the tenant's own quiet hours and by the lead's state rule
(state_rules.py: hours, Sundays, holidays). Without any time zone the answer is "unknown":
hold, never guess.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

from recovery_app.domain.compliance.state_rules import StateRule

LEGAL_WINDOW = (time(8, 0), time(21, 0))

US_STATES = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "Florida": "FL",
    "Georgia": "GA",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virginia": "VA",
    "Washington": "WA",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
    "Washington D.C.": "DC",
    "Washington State": "WA",
}


@dataclass(frozen=True, slots=True)
class Window:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end

    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def valid_zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


@functools.lru_cache(maxsize=4096)
def phone_zones(phone: str) -> tuple[str, ...]:
    """The IANA zones phonenumbers gives an E.164 number (empty when it does not know)."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_timezone.time_zones_for_number(number) if valid_zone(z))


@functools.lru_cache(maxsize=4096)
def phone_state(phone: str) -> str | None:
    """The US state of a number's area code ("+13055550100" -> "FL"), if phonenumbers knows it."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 1:
        return None
    place = geocoder.description_for_number(number, "en")
    if not place:
        return None
    if ", " in place:
        return place.rsplit(", ", 1)[1][:2]
    return US_STATES.get(place)


def lead_zones(
    lead_timezone: str | None, phone: str | None, tenant_timezone: str | None
) -> tuple[str, ...]:
    """Where the lead is: their own zone, else their number's zone(s), else the tenant's."""
    if zone := valid_zone(lead_timezone):
        return (zone,)
    if phone and (zones := phone_zones(phone)):
        return zones
    if zone := valid_zone(tenant_timezone):
        return (zone,)
    return ()


def effective_window(
    *,
    tenant_quiet_start: time | None = None,
    tenant_quiet_end: time | None = None,
    state: str | None = None,
    state_rules: dict[str, tuple[time, time]] | None = None,
) -> Window:
    """The legal window narrowed by the tenant's quiet hours (and a plain state window, for
    callers that show one; the guard applies whole state rules through `Schedule`)."""
    start, end = LEGAL_WINDOW
    if (
        tenant_quiet_end is not None
        and tenant_quiet_start is not None
        and tenant_quiet_end < tenant_quiet_start
    ):
        # Quiet from `tenant_quiet_start` in the evening until `tenant_quiet_end` next morning.
        start, end = max(start, tenant_quiet_end), min(end, tenant_quiet_start)
    if state and state_rules and state in state_rules:
        rule_start, rule_end = state_rules[state]
        start, end = max(start, rule_start), min(end, rule_end)
    return Window(start, end)


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a marketing text may go, per local day: `base` (the legal window and the office's
    quiet hours) narrowed by the lead's state rule on that day - and no minute at all on a
    day the state forbids (a Sunday, a state holiday)."""

    base: Window
    rule: StateRule | None = None

    def window_on(self, day: date) -> Window | None:
        start, end = self.base.start, self.base.end
        if self.rule is not None:
            span = self.rule.span_on(day)
            if span is None:
                return None
            start, end = max(start, span[0]), min(end, span[1])
        return Window(start, end) if start < end else None

    def contains(self, local: datetime) -> bool:
        window = self.window_on(local.date())
        return window is not None and window.contains(local.time())


# How far ahead a held text looks for its next allowed minute (two weeks covers any run of
# Sundays and holidays).
LOOKAHEAD_DAYS = 15


def _next_start(moment: datetime, zone: str, schedule: Schedule) -> datetime | None:
    """The next moment (UTC, >= `moment`) at which `zone` is inside the schedule."""
    local = _local(moment, zone)
    for offset in range(LOOKAHEAD_DAYS):
        day = local.date() + timedelta(days=offset)
        window = schedule.window_on(day)
        if window is None:
            continue
        if offset == 0:
            if window.contains(local.time()):
                return moment
            if local.time() >= window.start:
                continue  # today's window is over
        start = datetime.combine(day, window.start, tzinfo=ZoneInfo(zone))
        return start.astimezone(UTC)
    return None


def next_allowed(
    moment: datetime, zones: tuple[str, ...], schedule: Schedule | Window
) -> datetime | None:
    """`moment` if every zone is inside the schedule now, else the first later minute when
    all are; None when no such minute exists soon (zones too far apart for the window, or no
    allowed day within LOOKAHEAD_DAYS)."""
    if isinstance(schedule, Window):
        schedule = Schedule(schedule)
    if not zones:
        return None
    candidate = moment
    for _ in range(16):
        starts = [_next_start(candidate, zone, schedule) for zone in zones]
        if any(start is None for start in starts):
            return None
        later = max(start for start in starts if start is not None)
        if later != moment:
            later = _ceil_minute(later)  # a held message waits for a whole minute
        if all(schedule.contains(_local(later, zone)) for zone in zones):
            return later
        candidate = later + timedelta(minutes=1)
    return None


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)
