"""A simulated week, Friday 30 October to Friday 6 November 2026 (US clocks fall back on
Sunday 1 November; Arizona and Hawaii keep theirs), over 10,000 leads in every US zone from
Eastern to Hawaii.

The real jobs run on a clock moved forward an hour at a time: silent-lead detection makes the
1,429 leads (one in seven) that never answered us silent as their 48 hours run out, at every
hour of the day, and leaves the 8,571 that answered alone; the nurture sweep enrolls the
silent ones in an always-on two-step campaign whose send window is the whole day (so only the
compliance guard stands between a lead and a text at 3 a.m.), and the dispatcher sends what is
due. On Monday night (03:00 in New York) 200 leads opt out, half of them with a text already
queued and held for the morning.

The test's oracle is its own table of zones and state rules, not the app's: every text must
reach its lead between 08:00 and 21:00 in the lead's local time, narrowed by the office's
quiet hours and Florida's 08:00-20:00, in every zone the lead may be in; none may reach a lead
after it opted out.
"""

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from recovery_app.db import session_scope
from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow, StepIn
from recovery_app.domain.leads import timeline
from recovery_app.jobs.registry import JOBS
from recovery_app.jobs.runner import run_window
from recovery_app.messaging.dispatcher import Dispatcher
from recovery_app.models import Channel, Lead, LeadStatus, Message, MessageStatus
from recovery_app.settings import reload_settings
from tests.factories import make_tenant, manager_of

LEADS = 10_000
SILENT_EVERY = 7  # one lead in 7 goes silent during the week; the others answered us
START = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)  # Friday, before the change
WEEK = timedelta(days=7)
TICK = timedelta(hours=1)
SILENCE = timedelta(hours=48)  # the offices' (default) silence threshold
OPT_OUT_AT = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)  # Tuesday 03:00 in New York
# The test's own map of area codes: the zones a number may be in and its state.
AREA_CODES = {
    "212": (("America/New_York",), "NY"),
    "305": (("America/New_York",), "FL"),
    "312": (("America/Chicago",), "IL"),
    "303": (("America/Denver",), "CO"),
    "602": (("America/Phoenix",), "AZ"),
    "213": (("America/Los_Angeles",), "CA"),
    "907": (("America/Anchorage", "America/Adak"), "AK"),
    "808": (("Pacific/Honolulu",), "HI"),
}
STATE_WINDOWS = {"FL": (time(8), time(20))}
ALWAYS = SendWindow(days=list(range(7)), start="00:00", end="23:59")


@pytest.fixture
def sandbox_only(app_database, monkeypatch):
    """No provider configured: texts go to the sandbox channel, through the same guard."""
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SENDGRID_API_KEY", "DEMO_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATE_QUIET_HOURS", "FL=08:00-20:00")
    reload_settings()
    yield app_database
    monkeypatch.undo()
    reload_settings()


def seed(rng: random.Random) -> dict[int, tuple[time, time]]:
    """Two offices, 10,000 contacted leads whose silence starts anywhere in the first 5.5 days,
    each office with its campaign; returns each office's quiet hours (start, end)."""
    quiet = {}
    with session_scope() as s:
        offices = [
            make_tenant(
                s,
                name="East Office",
                timezone="America/New_York",
                quiet_hours_start=time(21),
                quiet_hours_end=time(8),
            ),
            make_tenant(
                s,
                name="West Office",
                timezone="America/Los_Angeles",
                quiet_hours_start=time(20),
                quiet_hours_end=time(9),
            ),
        ]
        rows = []
        codes = list(AREA_CODES)
        for n in range(LEADS):
            tenant = offices[n % 2]
            code = codes[n % len(codes)]
            zones, _ = AREA_CODES[code]
            # Most leads carry their zone; some only a number (its zones), some a zone that is
            # not their number's (moved away: the zone counts, the number's state rule too).
            roll = rng.random()
            zone = None if roll < 0.3 else rng.choice(zones) if roll < 0.9 else "America/Phoenix"
            wrote = START - SILENCE + timedelta(seconds=rng.uniform(0, 5.5 * 86400))
            answered = None if n % SILENT_EVERY == 0 else wrote + timedelta(hours=1)
            rows.append(
                {
                    "tenant_id": tenant.id,
                    "first_name": f"Lead{n}",
                    "last_name": "Week",
                    "phone": f"+1{code}{5000000 + n:07d}",
                    "timezone": zone,
                    "status": LeadStatus.ENGAGED if answered else LeadStatus.CONTACTED,
                    "last_inbound_at": answered,
                    "consent_sms": True,
                    "created_at": wrote - timedelta(hours=1),
                    "updated_at": wrote,
                    "last_activity_at": wrote,
                    "last_outbound_at": wrote,
                    "last_outbound_channel": "sms",
                }
            )
        s.execute(insert(Lead), rows)
        for tenant in offices:
            quiet[tenant.id] = (tenant.quiet_hours_start, tenant.quiet_hours_end)
            data = CampaignIn(
                name="Win back",
                audience={"status": ["silent"]},
                always_on=True,
                send_window=ALWAYS,
                steps=[
                    StepIn(channel=Channel.SMS, body="Hi {{first_name}}, still looking?"),
                    StepIn(
                        channel=Channel.SMS,
                        delay_minutes=31 * 60,
                        body="{{first_name}}, a new listing matches. Reply STOP to opt out.",
                    ),
                ],
            )
            viewer = manager_of(tenant)
            campaign = service.create_campaign(s, viewer=viewer, data=data, now=START)
            service.launch(s, viewer=viewer, campaign_id=campaign.id, now=START)
    return quiet


def opt_out_some(rng: random.Random, now: datetime) -> dict[int, datetime]:
    """200 leads opt out at `now`: 100 with a text queued (held for the morning), 100 others."""
    with session_scope() as s:
        waiting = list(
            s.execute(
                select(Message.lead_id)
                .where(Message.status == MessageStatus.QUEUED)
                .distinct()
                .order_by(Message.lead_id)
            ).scalars()
        )
        others = list(
            s.execute(select(Lead.id).where(Lead.id.not_in(waiting)).order_by(Lead.id)).scalars()
        )
        assert len(waiting) >= 100, f"only {len(waiting)} leads have a text waiting at {now}"
        chosen = rng.sample(waiting, 100) + rng.sample(others, 100)
        for lead in s.execute(select(Lead).where(Lead.id.in_(chosen))).scalars():
            timeline.opt_out(
                s, lead, Channel.SMS, reason="Replied STOP", now=now, actor_label="lead"
            )
    return dict.fromkeys(chosen, now)


def allowed_window(phone: str, zone: str | None, tenant_quiet: tuple[time, time]):
    """(zones, start, end) a marketing text to this lead must fall in, by the test's rules."""
    number_zones, state = AREA_CODES[phone[2:5]]
    zones = (zone,) if zone else number_zones
    quiet_start, quiet_end = tenant_quiet
    start, end = max(time(8), quiet_end), min(time(21), quiet_start)
    if state in STATE_WINDOWS:
        start, end = max(start, STATE_WINDOWS[state][0]), min(end, STATE_WINDOWS[state][1])
    return zones, start, end


@pytest.mark.timeout(300)
def test_a_week_across_the_dst_change_keeps_quiet_hours_and_opt_outs(sandbox_only) -> None:
    rng = random.Random(20261101)
    quiet = seed(rng)
    dispatcher = Dispatcher("time-travel", batch_size=500, clock=lambda: now)
    jobs = [JOBS["detect_silent_leads"], JOBS["nurture_sweep"]]
    opted_out: dict[int, datetime] = {}
    held = blocked = 0
    now = START
    try:
        while now < START + WEEK:
            for job in jobs:
                result = run_window(job, now=now, worker="time-travel")
                assert result is not None and result.error is None, result
            stats = dispatcher.drain()
            held, blocked = held + stats.held, blocked + stats.blocked
            if not opted_out and now >= OPT_OUT_AT:
                opted_out = opt_out_some(rng, now)
            now += TICK
    finally:
        dispatcher.close()

    with session_scope() as s:
        sent = s.execute(
            select(
                Message.lead_id,
                Message.sent_at,
                Lead.phone,
                Lead.timezone,
                Lead.tenant_id,
            )
            .join(Lead, Lead.id == Message.lead_id)
            .where(Message.status == MessageStatus.SIMULATED, Message.channel == Channel.SMS)
        ).all()
        # An opt-out cancels the lead's queued campaign texts; the guard blocks any left.
        never_left = s.execute(
            select(func.count()).where(
                Message.lead_id.in_(list(opted_out)),
                Message.status.in_([MessageStatus.CANCELED, MessageStatus.SUPPRESSED]),
            )
        ).scalar_one()
        statuses = dict(
            s.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
    outside, to_opted_out = [], []
    local_hours: dict[str, set[int]] = {}
    for lead_id, sent_at, phone, zone, tenant_id in sent:
        zones, start, end = allowed_window(phone, zone, quiet[tenant_id])
        for z in zones:
            local = sent_at.astimezone(ZoneInfo(z))
            local_hours.setdefault(z, set()).add(local.hour)
            if not start <= local.time() < end:
                outside.append((lead_id, sent_at, z, f"{local:%a %H:%M}"))
        if lead_id in opted_out and sent_at >= opted_out[lead_id]:
            to_opted_out.append((lead_id, sent_at))
    print(
        f"\nweek of {LEADS:,} leads: statuses {statuses}; {len(sent):,} texts sent, "
        f"{held:,} holds, {blocked:,} blocked, {never_left} texts of opted-out leads canceled or "
        f"blocked; outside quiet hours {len(outside)}, "
        f"to opted-out leads {len(to_opted_out)}"
    )
    assert not outside, f"{len(outside)} texts outside the allowed hours: {outside[:5]}"
    assert not to_opted_out, f"{len(to_opted_out)} texts after an opt-out: {to_opted_out[:5]}"
    # Not a week where nothing happened: most leads got both texts, the guard held many until
    # the morning, the opted-out leads' waiting texts were blocked, and every zone was texted
    # on both sides of the change.
    assert len(sent) > 1.2 * LEADS / SILENT_EVERY
    assert held > 300
    assert never_left >= 100
    for zone in ("America/New_York", "America/Phoenix", "Pacific/Honolulu", "America/Adak"):
        assert local_hours.get(zone), f"no text reached {zone}"
    fall_back = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT -> 01:00 EST
    before = [t for _, t, *_ in sent if t < fall_back]
    after = [t for _, t, *_ in sent if t >= fall_back]
    assert len(before) > 200 and len(after) > 200
