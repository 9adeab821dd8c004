"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL, or the local server at 127.0.0.1:5432 when one answers.
When TEST_DATABASE_URL is set (CI sets it) an unreachable server fails the run instead of
skipping, so a broken CI database can never pass silently. Each test session migrates a fresh
database: a temporary SQLite file, and a schema of its own on PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

from recovery_app import db as app_db
from recovery_app.cli import alembic_config
from recovery_app.db import build_engine
from recovery_app.observability import metrics_dir
from recovery_app.settings import reload_settings

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str | None:
    """The PostgreSQL server tests may use, or None when there is none to use."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    url = explicit or LOCAL_POSTGRES
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        if explicit:
            raise RuntimeError(f"TEST_DATABASE_URL={explicit} is unreachable: {exc}") from exc
        return None
    finally:
        engine.dispose()
    return url


_POSTGRES = postgres_base_url()


def redis_test_url() -> str | None:
    """Redis for tests: TEST_REDIS_URL (must answer), else the local server's db 15 if it does."""
    import redis

    explicit = os.environ.get("TEST_REDIS_URL")
    url = explicit or "redis://127.0.0.1:6379/15"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        if explicit:
            raise RuntimeError(f"TEST_REDIS_URL={explicit} is unreachable: {exc}") from exc
        return None
    return url


_REDIS = redis_test_url()


@pytest.fixture
def redis_url() -> str:
    if _REDIS is None:
        pytest.skip("no Redis reachable")
    return _REDIS


def with_search_path(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema` (tests get a schema each)."""
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def migrate(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


class FreshDatabase:
    """An empty database (a SQLite file or a PostgreSQL schema) that is dropped afterwards."""

    def __init__(self, backend: str, tmp: Path):
        self.backend = backend
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp / f'test-{uuid.uuid4().hex[:8]}.db'}"
            self.schema = None
        else:
            assert _POSTGRES is not None
            self.schema = f"test_{uuid.uuid4().hex[:12]}"
            admin = build_engine(_POSTGRES)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            self.url = with_search_path(_POSTGRES, self.schema)
        self.engine = build_engine(self.url)

    def drop(self) -> None:
        self.engine.dispose()
        if self.schema is not None:
            admin = build_engine(_POSTGRES)  # type: ignore[arg-type]
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(_POSTGRES is None, reason="no PostgreSQL reachable"),
    ),
]


# Set by importing rxconfig (Reflex loads it the first time a test touches a state or the
# config): one metrics directory per server start, exported to its workers. A test process is
# no server start, and a later test reading the event metrics would find them in that empty
# directory instead of in its own process - so no test leaves them set.
_SERVER_START_ENV = (metrics_dir.ENV, metrics_dir.OWNER)


@pytest.fixture(autouse=True)
def _no_server_start_environment_left_behind() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in _SERVER_START_ENV}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (Reflex event handlers) run on asyncio, like the app."""
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[FreshDatabase]:
    """An empty, unmigrated database of the parametrized backend."""
    database = FreshDatabase(backend, tmp_path)
    yield database
    database.drop()


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FreshDatabase]]:
    databases: dict[str, FreshDatabase] = {}
    yield databases
    for database in databases.values():
        database.drop()


@pytest.fixture
def database(backend: str, _migrated: dict[str, FreshDatabase], tmp_path_factory) -> FreshDatabase:
    """A migrated database of the parametrized backend, shared by the whole test session."""
    if backend not in _migrated:
        database = FreshDatabase(backend, tmp_path_factory.mktemp(backend))
        migrate(database.engine)
        _migrated[backend] = database
    return _migrated[backend]


@pytest.fixture
def engine(database: FreshDatabase) -> Engine:
    return database.engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even what the code under test
    flushed or committed (commits become savepoint releases)."""
    connection = engine.connect()
    transaction = connection.begin()
    with Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session
    transaction.rollback()
    connection.close()


@contextmanager
def app_pointed_at(url: str) -> Iterator[None]:
    """The app's own settings, engine and `session_scope()` use `url` inside the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        reload_settings()
        app_db.reset_engine()
        try:
            yield
        finally:
            app_db.reset_engine()
    reload_settings()


@pytest.fixture
def app_database(database: FreshDatabase) -> Iterator[FreshDatabase]:
    """The app itself pointed at the test database, for code that commits in its own
    transactions; every table is emptied afterwards."""
    with app_pointed_at(database.url):
        yield database
    with database.engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Process-wide caches keyed by row ids would carry one test's rows into the next test's
    database, where the same ids mean other rows."""
    from recovery_app.domain.routing.service import forget_response_times

    forget_response_times()
    yield
