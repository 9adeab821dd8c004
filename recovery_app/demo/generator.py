"""`recovery seed-demo`: one realistic brokerage (two offices) with months of lead history.

Deterministic for a given seed and `now` (passwords excepted: they are random and printed
once). Rows go in with bulk INSERT ... RETURNING in batches, so 100,000 leads and their
conversations load in well under two minutes on PostgreSQL.
"""

import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import JSON, Connection, Table, func, insert, select, text
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from recovery_app.demo import content
from recovery_app.demo.stories import CampaignPlan, OfficeContext, Story, StoryTeller
from recovery_app.domain.accounts import service as accounts
from recovery_app.domain.campaigns.library import ensure_builtin_templates
from recovery_app.domain.campaigns.trigger_rules import install_default_rules
from recovery_app.domain.scoring.service import features_of, score_lead
from recovery_app.errors import Conflict
from recovery_app.models import (
    Activity,
    Campaign,
    CampaignGoal,
    CampaignStatus,
    CampaignStep,
    Channel,
    Conversion,
    Enrollment,
    Lead,
    Message,
    Role,
    Tenant,
)

DEFAULT_LEADS = 5_000
SANDBOX_LEADS = 800
EMAIL_DOMAIN = "harborviewrealty.example"
DEFAULT_SEED = 7
BATCH_SIZE = 2_000


@dataclass(frozen=True, slots=True)
class Credential:
    email: str
    password: str | None
    role: str
    tenant: str
    user_id: int


@dataclass(slots=True)
class DemoResult:
    credentials: list[Credential] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def database_is_empty(session: Session) -> bool:
    return session.execute(select(func.count()).select_from(Tenant)).scalar_one() == 0


def seed_demo(
    session: Session,
    *,
    leads: int = DEFAULT_LEADS,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    password_factory: Callable[[], str | None] = lambda: secrets.token_urlsafe(12),
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Create the demo brokerage (both offices) in `session`; the caller commits."""
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    result = DemoResult()
    for office in content.OFFICES:
        if session.execute(
            select(col(Tenant.id)).where(col(Tenant.location_id) == office.location_id)
        ).first():
            raise Conflict(
                f"Demo office {office.location_id!r} already exists; seed an empty database "
                "(or use --if-empty to skip)."
            )
    templates = _template_rows(session)
    contexts: list[tuple[OfficeContext, int]] = []
    remaining = leads
    for index, office in enumerate(content.OFFICES):
        ctx = _create_office(
            session,
            office,
            rng,
            now,
            templates,
            password_factory,
            result,
            location_id=office.location_id,
            name=office.name,
            email_domain=EMAIL_DOMAIN,
        )
        share = remaining if index == len(content.OFFICES) - 1 else round(leads * office.share)
        remaining -= share
        contexts.append((ctx, share))
    result.counts = _tell(session, contexts, rng, now, progress, total=leads)
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True, slots=True)
class Sandbox:
    tenant_id: int
    manager_id: int


def seed_sandbox(
    session: Session,
    *,
    token: str,
    expires_at: datetime,
    leads: int = SANDBOX_LEADS,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
) -> Sandbox:
    """A private copy of the first demo office for one visitor: the same people, leads and
    conversations for every visitor (same seed), its own tenant, users without passwords
    (visitors enter through the demo session only), gone after `expires_at`."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    office = content.OFFICES[0]
    result = DemoResult()
    ctx = _create_office(
        session,
        office,
        rng,
        now,
        _template_rows(session),
        lambda: None,
        result,
        location_id=f"demo-{token}",
        name=f"Demo sandbox - {office.name}",
        email_domain=f"{token}.sandbox.harborviewrealty.example",
        demo_expires_at=expires_at,
    )
    _tell(session, [(ctx, leads)], rng, now, None, total=leads)
    manager = next(c for c in result.credentials if c.role == Role.MANAGER)
    return Sandbox(tenant_id=ctx.tenant_id, manager_id=manager.user_id)


def _template_rows(session: Session) -> dict[tuple[str, Channel], tuple[int, str, str | None]]:
    templates = ensure_builtin_templates(session)
    return {key: (t.id, t.body, t.subject) for key, t in templates.items()}  # type: ignore[misc]


def _tell(
    session: Session,
    contexts: list[tuple[OfficeContext, int]],
    rng: random.Random,
    now: datetime,
    progress: Callable[[int, int], None] | None,
    *,
    total: int,
) -> dict[str, int]:
    counts = {"leads": 0, "messages": 0, "activities": 0, "enrollments": 0, "conversions": 0}
    done, analyzed_at = 0, 0
    for ctx, share in contexts:
        teller = StoryTeller(ctx, rng, now, key_prefix=f"demo:{ctx.location_id}")
        for start in range(0, share, BATCH_SIZE):
            stories = [teller.tell(start + i) for i in range(min(BATCH_SIZE, share - start))]
            _score(stories, now)
            for name, n in _insert_batch(session, stories).items():
                counts[name] += n
            done += len(stories)
            if done >= 2 * analyzed_at:
                _analyze(session)
                analyzed_at = done
            if progress:
                progress(done, total)
    return counts


# The tables the rollup and attribution triggers join each batch against.
ANALYZED = ("leads", "messages", "conversions", "enrollments")


def _analyze(session: Session) -> None:
    """Fresh planner statistics on PostgreSQL, each time the seeded rows have doubled: the
    whole seed is one transaction, which autovacuum cannot see into, so the triggers' joins
    were planned for the empty tables of the start - a scan of every lead and message so far
    for each batch (a 1,000,000-lead seed had written 46 MB of leads, about a tenth, after 20
    minutes). ANALYZE inside the transaction counts its own rows."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))


def _create_office(
    session: Session,
    office: content.DemoOffice,
    rng: random.Random,
    now: datetime,
    templates: dict[tuple[str, Channel], tuple[int, str, str | None]],
    password_factory: Callable[[], str | None],
    result: DemoResult,
    *,
    location_id: str,
    name: str,
    email_domain: str,
    demo_expires_at: datetime | None = None,
) -> OfficeContext:
    tenant = accounts.create_tenant(
        session,
        name=name,
        location_id=location_id,
        demo_expires_at=demo_expires_at,
        timezone=office.timezone,
        is_demo=True,
        sender_phone=office.sender_phone,
        sender_email=office.sender_email,
        sender_name=office.name,
        postal_address=office.postal_address,
        business_hours={day: ["09:00", "18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": ["10:00", "14:00"]},
        silence_overrides={"hot": 4, "warm": 24},
        created_at=now - timedelta(days=130),
    )
    tenant.preferences = dict(tenant.preferences or {}) | {
        "roi": {"go_live_on": None, "source_costs": dict(content.SOURCE_COSTS_USD)}
    }
    install_default_rules(session, tenant.id, now=now)  # type: ignore[arg-type]
    people = [(office.manager, Role.MANAGER), *((a, Role.AGENT) for a in office.agents)]
    agents: list[tuple[int, str, int]] = []
    for (first, last), role in people:
        password = password_factory()
        user = accounts.create_user(
            session,
            tenant=tenant,
            email=f"{first}.{last}@{email_domain}".lower(),
            password=password,
            role=role,
            full_name=f"{first} {last}",
            capacity=rng.choice((40, 60, 80)) if role == Role.AGENT else 20,
            specialties=rng.sample(content.SPECIALTIES, 2),
            created_at=now - timedelta(days=130),
        )
        result.credentials.append(Credential(user.email, password, role, location_id, user.id))  # type: ignore[arg-type]
        if role == Role.AGENT:
            agents.append((user.id, user.full_name, user.capacity))  # type: ignore[arg-type]

    def campaign(
        name: str,
        status: CampaignStatus,
        audience: dict[str, Any],
        steps: list[tuple[Channel, timedelta, str]],
    ) -> CampaignPlan:
        row = Campaign(
            tenant_id=tenant.id,  # type: ignore[arg-type]
            name=name,
            goal=CampaignGoal.REPLY,
            status=status,
            audience=audience,
            channels=sorted({str(channel) for channel, _, _ in steps}),
            send_window={"days": [0, 1, 2, 3, 4, 5], "start": "09:00", "end": "19:00"},
            always_on=status == CampaignStatus.ACTIVE,
            created_at=now - timedelta(days=125),
            updated_at=now - timedelta(days=125),
            launched_at=now - timedelta(days=124) if status != CampaignStatus.DRAFT else None,
        )
        session.add(row)
        session.flush()
        plan = CampaignPlan(id=row.id, name=name, steps=[])  # type: ignore[arg-type]
        for position, (channel, delay, situation) in enumerate(steps):
            template_id, body, subject = templates[(situation, channel)]
            step = CampaignStep(
                campaign_id=row.id,  # type: ignore[arg-type]
                position=position,
                channel=channel,
                delay_minutes=int(delay.total_seconds() // 60),
                template_id=template_id,
                ai_personalize=channel == Channel.SMS,
            )
            session.add(step)
            session.flush()
            plan.steps.append((channel, delay, body, subject, step.id, template_id))  # type: ignore[arg-type]
        return plan

    silent_7d = campaign(
        "7-day silent recovery",
        CampaignStatus.ACTIVE,
        {"status": ["silent"], "silent_for_hours": 120},
        [
            (Channel.SMS, timedelta(0), "silent_7d"),
            (Channel.EMAIL, timedelta(days=2), "silent_7d"),
            (Channel.SMS, timedelta(days=4), "reactivation_30d"),
        ],
    )
    reactivation = campaign(
        "30-day reactivation",
        CampaignStatus.ACTIVE,
        {"status": ["silent"], "silent_for_hours": 720},
        [
            (Channel.EMAIL, timedelta(0), "reactivation_30d"),
            (Channel.SMS, timedelta(days=3), "reactivation_30d"),
        ],
    )
    open_house = campaign(
        "Open house follow-up",
        CampaignStatus.ACTIVE,
        {"source": ["open_house"], "status": ["silent"]},
        [
            (Channel.SMS, timedelta(0), "open_house_followup"),
            (Channel.EMAIL, timedelta(days=2), "open_house_followup"),
        ],
    )
    campaign(
        "Price-drop nudge",
        CampaignStatus.DRAFT,
        {"status": ["silent", "engaged"], "min_score": 40},
        [
            (Channel.SMS, timedelta(0), "price_drop"),
            (Channel.EMAIL, timedelta(days=1), "price_drop"),
        ],
    )
    return OfficeContext(
        office=office,
        location_id=location_id,
        tenant_id=tenant.id,  # type: ignore[arg-type]
        agents=agents,
        templates=templates,
        silent_7d=silent_7d,
        reactivation_30d=reactivation,
        open_house=open_house,
    )


LEAD_DEFAULTS: dict[str, Any] = {
    "attributes": {},
    "submissions": 1,
    "inbound_count": 0,
    "first_reply_seconds": None,
    "last_inbound_at": None,
    "last_outbound_at": None,
}


def _score(stories: Iterable[Story], now: datetime) -> None:
    """Score each story's lead with the same function the engine uses on real leads."""
    for story in stories:
        lead = story.lead
        result = score_lead(features_of(SimpleNamespace(**(LEAD_DEFAULTS | lead))), now=now)  # type: ignore[arg-type]
        lead.update(
            score=result.score, temperature=result.temperature, score_factors=result.factors_json()
        )


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """Column values a bulk row gets when the story leaves them out (SQLModel's defaults live in
    Python, not in the table, so Core inserts must supply them)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.primary_key:
            continue
        info = model.model_fields.get(column.name)
        if info is None:
            continue
        if info.default_factory is not None:
            values[column.name] = info.default_factory()  # type: ignore[call-arg]
        elif info.is_required():
            continue
        else:
            values[column.name] = info.default
    return values


_DEFAULTS: dict[type[SQLModel], dict[str, Any]] = {}


def _rows(model: type[SQLModel], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = _defaults(model)
    return [defaults | {k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


def _insert_returning_ids(
    session: Session, model: type[SQLModel], rows: list[dict[str, Any]]
) -> list[int]:
    """Insert `rows` and return their new ids in order."""
    if not rows:
        return []
    table: Table = model.__table__  # type: ignore[attr-defined]
    full = _rows(model, rows)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Reserve the ids from the sequence, then COPY: an order of magnitude faster than
        # multi-row INSERT ... RETURNING, whose huge statements psycopg must re-parse each time.
        ids = list(
            connection.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
                ),
                {"table": table.name, "n": len(full)},
            ).scalars()
        )
        for row, new_id in zip(full, ids, strict=True):
            row["id"] = new_id
        _copy(connection, table, full)
        return ids
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(stmt, full).scalars())


def _insert(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table: Table = model.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy(connection, table, _rows(model, rows))
    else:
        connection.execute(insert(table), _rows(model, rows))


def _copy(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY `rows` into `table` over the session's own psycopg connection (same transaction)."""
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    raw = connection.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])


def _insert_batch(session: Session, stories: list[Story]) -> dict[str, int]:
    lead_ids = _insert_returning_ids(session, Lead, [s.lead for s in stories])

    enrollments: list[dict[str, Any]] = []
    enrollment_owner: list[tuple[int, int]] = []  # (story index, enrollment index in story)
    for s_index, (story, lead_id) in enumerate(zip(stories, lead_ids, strict=True)):
        for e_index, enrollment in enumerate(story.enrollments):
            enrollment["lead_id"] = lead_id
            enrollments.append(enrollment)
            enrollment_owner.append((s_index, e_index))
    enrollment_ids = _insert_returning_ids(session, Enrollment, enrollments)
    enrollment_id_of = dict(zip(enrollment_owner, enrollment_ids, strict=True))

    messages: list[dict[str, Any]] = []
    for s_index, (story, lead_id) in enumerate(zip(stories, lead_ids, strict=True)):
        for message in story.messages:
            message["lead_id"] = lead_id
            if message["_enrollment"] is not None:
                message["enrollment_id"] = enrollment_id_of[(s_index, message["_enrollment"])]
            messages.append(message)
    message_ids = _insert_returning_ids(session, Message, messages)
    for message, message_id in zip(messages, message_ids, strict=True):
        message["_id"] = message_id

    activities: list[dict[str, Any]] = []
    conversions: list[dict[str, Any]] = []
    for story, lead_id in zip(stories, lead_ids, strict=True):
        for activity in story.activities:
            activity["lead_id"] = lead_id
            if activity["_message"] is not None:
                activity["message_id"] = story.messages[activity["_message"]]["_id"]
            activities.append(activity)
        if story.conversion is not None:
            story.conversion["lead_id"] = lead_id
            if story.conversion["_message"] is not None:
                story.conversion["attributed_message_id"] = story.messages[
                    story.conversion["_message"]
                ]["_id"]
            conversions.append(story.conversion)
    _insert(session, Activity, activities)
    _insert(session, Conversion, conversions)
    return {
        "leads": len(lead_ids),
        "messages": len(messages),
        "activities": len(activities),
        "enrollments": len(enrollments),
        "conversions": len(conversions),
    }
