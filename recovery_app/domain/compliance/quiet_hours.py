"""When a marketing text may reach a lead: their local time, inside every applicable window.

The lead's time zone comes from the lead, else from the phone number (an area code can span two
zones: then the text must be allowed in all of them), else from the tenant. The window is the
legal 08:00-21:00, narrowed by the tenant's own quiet hours and by state rules (Florida's
08:00-20:00 ships by default). Without any time zone the answer is "unknown": hold, never guess.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

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
    """The legal window narrowed by the tenant's quiet hours and the lead's state rule."""
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


def _next_start(moment: datetime, zone: str, window: Window) -> datetime:
    """The next moment (UTC, >= `moment`) at which `zone` is inside `window`."""
    local = _local(moment, zone)
    if window.contains(local.time()):
        return moment
    day: date = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    start = datetime.combine(day, window.start, tzinfo=ZoneInfo(zone))
    return start.astimezone(UTC)


def next_allowed(moment: datetime, zones: tuple[str, ...], window: Window) -> datetime | None:
    """`moment` if every zone is inside the window now, else the first later minute when all are;
    None when no such minute exists (zones too far apart for the window)."""
    if window.start >= window.end or not zones:
        return None
    candidate = moment
    for _ in range(8):
        later = max(_next_start(candidate, zone, window) for zone in zones)
        if later != moment:
            later = _ceil_minute(later)  # a held message waits for a whole minute
        if all(window.contains(_local(later, zone).time()) for zone in zones):
            return later
        candidate = later + timedelta(minutes=1)
    return None


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)
