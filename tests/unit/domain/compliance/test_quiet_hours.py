"""Quiet hours across time zones and DST changes, as properties that must hold for any moment."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from recovery_app.domain.compliance.quiet_hours import (
    Window,
    effective_window,
    lead_zones,
    next_allowed,
    phone_state,
    phone_zones,
)

US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
    "America/Indiana/Indianapolis",
    "America/Kentucky/Louisville",
    "America/Boise",
]
# Moments from 2024 to 2030, with extra weight on the nights clocks change.
DST_NIGHTS = [datetime(y, 3, d, 6, tzinfo=UTC) for y in range(2024, 2031) for d in range(8, 15)] + [
    datetime(y, 11, d, 6, tzinfo=UTC) for y in range(2024, 2031) for d in range(1, 8)
]
moments = st.one_of(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(DST_NIGHTS),
        st.integers(min_value=-1440, max_value=1440),
    ),
)
windows = st.sampled_from(
    [Window(time(8), time(21)), Window(time(8), time(20)), Window(time(9), time(17, 30))]
)
zone_sets = st.lists(st.sampled_from(US_ZONES), min_size=1, max_size=2, unique=True).map(tuple)


def inside(moment: datetime, zones: tuple[str, ...], window: Window) -> bool:
    return all(window.contains(moment.astimezone(ZoneInfo(z)).time()) for z in zones)


@settings(max_examples=400, deadline=None)
@given(moment=moments, zones=zone_sets, window=windows)
def test_next_allowed_is_inside_the_window_everywhere(moment, zones, window) -> None:
    allowed = next_allowed(moment, zones, window)
    if allowed is None:
        # Only when no minute of the day is inside the window in every zone at once.
        probe = [moment + timedelta(minutes=m) for m in range(0, 2 * 1440, 15)]
        assert not any(inside(p, zones, window) for p in probe)
        return
    assert allowed >= moment
    assert inside(allowed, zones, window)
    assert allowed - moment <= timedelta(hours=26)
    if allowed != moment:
        assert allowed.second == allowed.microsecond == 0  # a whole minute
        assert not inside(moment, zones, window)
        # Nothing earlier would have done: the minute before is still outside somewhere.
        assert (
            not inside(allowed - timedelta(minutes=1), zones, window)
            or allowed - timedelta(minutes=1) < moment
        )


@settings(max_examples=200, deadline=None)
@given(moment=moments, zone=st.sampled_from(US_ZONES))
def test_inside_the_window_means_now(moment, zone) -> None:
    window = Window(time(8), time(21))
    if inside(moment, (zone,), window):
        assert next_allowed(moment, (zone,), window) == moment


def test_spring_forward_morning() -> None:
    # 8 March 2026, 02:00 -> 03:00 in New York. A text held at 01:30 EST goes at 08:00 EDT = 12:00 UTC.
    held = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert next_allowed(held, ("America/New_York",), Window(time(8), time(21))) == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )


def test_fall_back_evening() -> None:
    # 1 November 2026: 21:40 CDT on the 31st is 02:40 UTC; the next morning 08:00 is CST (14:00 UTC).
    held = datetime(2026, 11, 1, 2, 40, tzinfo=UTC)
    assert next_allowed(held, ("America/Chicago",), Window(time(8), time(21))) == datetime(
        2026, 11, 1, 14, 0, tzinfo=UTC
    )


def test_two_zones_share_the_overlap_only() -> None:
    # 08:00 in Los Angeles is 11:00 in New York: the shared window opens at 16:00 UTC.
    moment = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert next_allowed(
        moment, ("America/New_York", "America/Los_Angeles"), Window(time(8), time(21))
    ) == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


def test_windows_narrow_never_widen() -> None:
    rules = {"FL": (time(8), time(20))}
    assert effective_window(state="FL", state_rules=rules) == Window(time(8), time(20))
    assert effective_window(state="TX", state_rules=rules) == Window(time(8), time(21))
    # A tenant quiet from 20:00 to 09:00 narrows the day further.
    assert effective_window(tenant_quiet_start=time(20), tenant_quiet_end=time(9)) == Window(
        time(9), time(20)
    )
    # A tenant "window" wider than the law does not widen it.
    assert effective_window(tenant_quiet_start=time(23), tenant_quiet_end=time(6)) == Window(
        time(8), time(21)
    )


def test_where_the_lead_is() -> None:
    assert lead_zones("America/Denver", "+13125550100", "America/New_York") == ("America/Denver",)
    assert lead_zones(None, "+13125550100", "America/New_York") == ("America/Chicago",)
    assert lead_zones("Not/AZone", None, "America/New_York") == ("America/New_York",)
    assert lead_zones(None, None, None) == ()
    assert set(phone_zones("+19075550100")) == {"America/Adak", "America/Anchorage"}
    assert phone_state("+13055550100") == "FL" and phone_state("+13125550100") == "IL"
    assert phone_state("+442071234567") is None
