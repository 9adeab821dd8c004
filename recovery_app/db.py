"""Engine and unit-of-work scope.

Services take a `Session` and never commit; the door that called them (a request, a job, a page
event, a CLI command) owns the transaction through `session_scope()`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, SQLModel

from recovery_app.settings import get_settings

M = TypeVar("M", bound=SQLModel)


def normalize_url(url: str | URL) -> URL:
    """The URL with an explicit driver: plain `postgresql://` means psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while a job writes; the busy timeout turns the remaining
    # writer-writer contention into a short wait instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def build_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A new engine for `url` with the per-dialect settings this app relies on."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", get_settings().db_pool_size)
    kwargs.setdefault("max_overflow", get_settings().db_max_overflow)
    return create_engine(parsed, **kwargs)


@functools.cache
def get_engine() -> Engine:
    """The process-wide engine for DATABASE_URL."""
    return build_engine(get_settings().database_url)


def reset_engine() -> None:
    """Dispose of the cached engine (tests and forked workers get a fresh pool)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back when it raises."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_unless_taken(session: OrmSession, row: M, *, unique: list[str]) -> M | None:
    """INSERT `row` unless its `unique` key is taken (ON CONFLICT DO NOTHING ... RETURNING, on
    PostgreSQL and SQLite alike): the inserted row as a persistent object, or None when another
    row already holds the key. One round trip where savepoint + insert + release took three,
    and a clash leaves the surrounding transaction usable."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    model = type(row)
    table = model.__table__  # type: ignore[attr-defined]
    values = {
        column.key: getattr(row, column.key)
        for column in table.columns
        if not (column.primary_key and getattr(row, column.key) is None)
    }
    stmt = (
        dialect.insert(model)
        .values(values)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(model)
    )
    return session.execute(stmt).scalar_one_or_none()
