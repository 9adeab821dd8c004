"""The schema exists only through Alembic: upgrade from empty to head, no drift from the
models, downgrade one step and back, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from recovery_app.cli import alembic_config
from tests.conftest import downgrade, migrate

EXPECTED_TABLES = {
    "tenants",
    "users",
    "api_keys",
    "leads",
    "activities",
    "messages",
    "campaigns",
    "campaign_steps",
    "enrollments",
    "templates",
    "conversions",
    "webhook_events",
    "job_runs",
    "scheduler_leases",
    "audit_logs",
    "ai_drafts",
    "draft_reviews",
    "trigger_rules",
    "trigger_firings",
}


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()  # type: ignore[return-value]


def _current(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_from_empty_matches_the_models(fresh_database) -> None:
    engine = fresh_database.engine
    migrate(engine)
    assert _current(engine) == _head()
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_indexes_the_known_queries_need(fresh_database) -> None:
    engine = fresh_database.engine
    migrate(engine)
    inspector = inspect(engine)

    def indexed(table: str) -> set[tuple[str, ...]]:
        found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        found |= {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)}
        return found

    assert {
        ("tenant_id", "status", "last_activity_at"),
        ("tenant_id", "score"),
        ("tenant_id", "phone"),
        ("tenant_id", "email"),
    } <= indexed("leads")
    assert ("idempotency_key",) in indexed("messages")
    assert ("provider", "event_id") in indexed("webhook_events")
    assert ("status", "next_run_at") in indexed("enrollments")
    assert ("job_name", "window_start") in indexed("job_runs")
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("leads")}
    assert {("tenant_id", "phone"), ("tenant_id", "email")} <= uniques


def test_downgrade_one_step_and_upgrade_again(fresh_database) -> None:
    engine = fresh_database.engine
    migrate(engine)
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_revision(_head())
    downgrade(engine, "-1")
    previous = (
        head.down_revision
        if isinstance(head.down_revision, str) or head.down_revision is None
        else head.down_revision[0]
    )
    assert _current(engine) == previous
    if previous is None:
        assert not EXPECTED_TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert _current(engine) == _head()
