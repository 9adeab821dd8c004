"""Recovery engine at scale, on PostgreSQL:

(silent-lead detection over 1,000,000 leads is `bench/silence.py`)

1. a nurture sweep of 100,000 due steps (template path): how long the sweep takes to queue them,
   then how many of them the dispatcher sends to a local Twilio-speaking server in a fixed time
   (pacing off), as messages per second;
2. the AI-call-to-message ratio of a 10,000-lead campaign with 5 AI steps, drafted through a
   local server speaking Anthropic's Messages API with the real SDK.

    .venv/bin/python -m bench.recovery [--steps 100000] [--campaign 10000]

Results go to bench/results/recovery.json; the README quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import col

from bench.common import fresh_database, machine, migrate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "recovery.json"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench_recovery"
NOW = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)  # a Tuesday, noon in Chicago


def _point_app_at(**env: str) -> None:
    os.environ.update(DATABASE_URL=PG_URL, APP_BASE_URL="https://leads.example.com", **env)
    from recovery_app import db
    from recovery_app.messaging.drafting import reset_drafter
    from recovery_app.settings import reload_settings

    reload_settings()
    db.reset_engine()
    reset_drafter()


def _tenants(session, count: int) -> list[int]:
    from recovery_app.models import Tenant

    ids = []
    for n in range(count):
        tenant = Tenant(
            name=f"Office {n}",
            location_id=f"bench-{n}-{time.time_ns()}",
            timezone="America/Chicago",
            sender_phone=f"+1512555{n:04d}",
            silence_threshold_hours=[48, 24, 72][n % 3],
            silence_overrides={"hot": 4} if n == 0 else {},
        )
        session.add(tenant)
        session.flush()
        ids.append(tenant.id)
    return ids


def _insert_leads(session, tenant_ids: list[int], count: int) -> None:
    """`count` silent leads by INSERT ... SELECT generate_series: temperatures and last
    outbound/inbound spread over 30 days."""
    tenants = "(ARRAY[" + ",".join(str(t) for t in tenant_ids) + "])"
    status = "'silent'"
    session.execute(
        text(
            f"""
            INSERT INTO leads (tenant_id, first_name, last_name, email, phone, source, status,
                score, temperature, score_factors, tags, attributes, submissions, inbound_count,
                consent_sms, consent_email, consent_evidence, opted_out_sms, opted_out_email,
                created_at, updated_at, last_activity_at, last_outbound_at, last_inbound_at,
                timezone, score_boost)
            SELECT {tenants}[1 + (g % {len(tenant_ids)})], 'Lead' || g, 'Bench',
                'lead' || g || '@example.com', '+1512' || lpad(g::text, 7, '0'),
                (ARRAY['web_form','portal','referral','open_house','ghl'])[1 + (g % 5)],
                {status}, (g * 37) % 100,
                CASE WHEN (g * 37) % 100 >= 70 THEN 'hot' WHEN (g * 37) % 100 >= 40 THEN 'warm'
                     ELSE 'cold' END,
                '[]', '[]', '{{}}', 1, 0, true, true, '{{}}', false, false,
                :now - interval '40 days', :now, :now,
                :now - ((g % 720) || ' hours')::interval,
                CASE WHEN g % 4 = 0 THEN :now - ((g % 720) || ' hours')::interval
                                          + interval '1 hour' END,
                'America/Chicago', 0
            FROM generate_series(1, :count) AS g
            """
        ),
        {"now": NOW, "count": count},
    )


def _campaign(session, tenant_id: int, steps: list, *, autopilot: bool = True) -> int:
    from recovery_app.domain.accounts.schemas import Viewer
    from recovery_app.domain.campaigns import service
    from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow
    from recovery_app.models import Role

    viewer = Viewer(tenant_id=tenant_id, role=Role.MANAGER)
    data = CampaignIn(
        name="Bench",
        audience={"status": ["silent"]},
        steps=steps,
        send_window=SendWindow(days=list(range(7)), start="00:00", end="23:59"),
        autopilot=autopilot,
        frequency_cap_per_day=10,
    )
    campaign = service.create_campaign(session, viewer=viewer, data=data, now=NOW)
    service.launch(session, viewer=viewer, campaign_id=campaign.id, now=NOW)
    return campaign.id


def bench_sweep(steps: int, dispatch_seconds: int) -> dict:
    from recovery_app.db import session_scope
    from recovery_app.domain.campaigns.schemas import StepIn
    from recovery_app.domain.campaigns.sweep import run_sweep
    from recovery_app.messaging.dispatcher import Dispatcher
    from recovery_app.models import Channel, Message, MessageStatus
    from tests.fakes.providers import FakeTwilio

    twilio = FakeTwilio()
    fresh_database(PG_URL)
    _point_app_at(
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="bench-token",
        TWILIO_FROM_NUMBER="+15125550100",
        TWILIO_API_BASE_URL=twilio.url,
        # Not the default (1 a second): this measures how fast the dispatcher itself gets
        # through an outbox (its CPU and database cost), which pacing would hide behind sleeps.
        # Pacing at the default is bench/speed_to_lead.py's.
        SMS_PER_SECOND_PER_NUMBER="0",
    )
    migrate()
    with session_scope() as s:
        (tenant_id,) = _tenants(s, 1)
        _insert_leads(s, [tenant_id], steps)
        step = StepIn(
            channel=Channel.SMS,
            body="Hi {{first_name}}, still thinking about {{property_interest}}? Reply STOP to opt out.",
        )
        _campaign(s, tenant_id, [step])
    with session_scope() as s:
        s.execute(text("ANALYZE"))
    started = time.perf_counter()
    with session_scope() as s:
        stats = run_sweep(s, NOW)
    sweep_seconds = time.perf_counter() - started
    # Send for a fixed time with one dispatcher (4 concurrent sends), as one worker would.
    dispatcher = Dispatcher("bench", clock=lambda: NOW + timedelta(minutes=1))
    started = time.perf_counter()
    sent = 0
    while time.perf_counter() - started < dispatch_seconds:
        sent += dispatcher.run_once().sent
    elapsed = time.perf_counter() - started
    dispatcher.close()
    with session_scope() as s:
        queued = s.execute(select(func.count()).select_from(Message)).scalar_one()
        delivered = s.execute(
            select(func.count()).where(col(Message.status) == MessageStatus.SENT)
        ).scalar_one()
    twilio.close()
    return {
        "due_steps": steps,
        "sweep_seconds": round(sweep_seconds, 1),
        "steps_per_second": round(stats["steps_queued"] / sweep_seconds),
        "queued": queued,
        "sweep_stats": stats,
        "dispatch_seconds": round(elapsed, 1),
        "sent_in_dispatch_window": delivered,
        "dispatch_per_second_one_worker": round(sent / elapsed, 1),
    }


def bench_ai_ratio(leads: int) -> dict:
    from recovery_app.db import session_scope
    from recovery_app.domain.campaigns.schemas import StepIn
    from recovery_app.domain.campaigns.sweep import run_sweep
    from recovery_app.models import AiDraft, Channel, Message
    from tests.fakes.anthropic_api import GOOD_EMAIL, GOOD_SMS, FakeAnthropic

    anthropic_server = FakeAnthropic()
    fresh_database(PG_URL)
    _point_app_at(ANTHROPIC_API_KEY=FakeAnthropic.API_KEY, ANTHROPIC_BASE_URL=anthropic_server.url)
    migrate()
    sms = "Hi {{first_name}}, checking in. Reply STOP to opt out."
    steps = [
        StepIn(channel=Channel.SMS, body=sms, ai_personalize=True),
        StepIn(
            channel=Channel.EMAIL,
            delay_minutes=60,
            subject="Hi {{first_name}}",
            body="Any questions?",
            ai_personalize=True,
        ),
        StepIn(channel=Channel.SMS, delay_minutes=60, body=sms, ai_personalize=True),
        StepIn(
            channel=Channel.EMAIL,
            delay_minutes=60,
            subject="Still there?",
            body="One more note.",
            ai_personalize=True,
        ),
        StepIn(channel=Channel.SMS, delay_minutes=60, body=sms, ai_personalize=True),
    ]
    with session_scope() as s:
        (tenant_id,) = _tenants(s, 1)
        _insert_leads(s, [tenant_id], leads)
        _campaign(s, tenant_id, steps)
    started = time.perf_counter()
    for hour in range(5):
        # Steps alternate SMS and email, one hour apart: the fake answers in the step's shape.
        anthropic_server.default_text = GOOD_EMAIL if hour % 2 else GOOD_SMS
        with session_scope() as s:
            run_sweep(s, NOW + timedelta(hours=hour))
    seconds = time.perf_counter() - started
    with session_scope() as s:
        messages = s.execute(select(func.count()).select_from(Message)).scalar_one()
        drafts = s.execute(select(func.count()).select_from(AiDraft)).scalar_one()
        by_path = dict(
            s.execute(select(Message.drafted_by, func.count()).group_by(Message.drafted_by)).all()
        )
        tokens = s.execute(
            select(
                func.sum(AiDraft.input_tokens + AiDraft.output_tokens),
                func.sum(AiDraft.cost_microdollars),
            )
        ).one()
    calls = len(anthropic_server.requests)
    anthropic_server.close()
    return {
        "leads": leads,
        "steps": len(steps),
        "messages": messages,
        "ai_calls": calls,
        "ai_drafts_stored": drafts,
        "ai_calls_per_message": round(calls / messages, 5) if messages else None,
        "messages_by_path": by_path,
        "tokens": int(tokens[0] or 0),
        "ai_cost_usd": round(float(tokens[1] or 0) / 1_000_000, 4),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--campaign", type=int, default=10_000)
    parser.add_argument("--dispatch-seconds", type=int, default=30)
    args = parser.parse_args()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sweep": bench_sweep(args.steps, args.dispatch_seconds),
        "ai_ratio": bench_ai_ratio(args.campaign),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
