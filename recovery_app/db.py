"""Engine and unit-of-work scope.

Services take a `Session` and never commit; the door that called them (a request, a job, a page
event, a CLI command) owns the transaction through `session_scope()`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel

from recovery_app.settings import get_settings

M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")


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


_PER_TRANSACTION = "per_transaction"


def per_transaction(session: OrmSession, key: Hashable, load: Callable[[], T]) -> T:
    """`load()` once per transaction of `session`: for settings rows that every step of a hot
    path asks about (an office's integrations, its trigger rules) and that only a manager's
    own transaction changes. Forgotten at commit and rollback, so no transaction sees another's
    answer; code that changes what `load` reads in the same transaction calls `forget`."""
    cache: dict[Hashable, Any] = session.info.setdefault(_PER_TRANSACTION, {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def forget(session: OrmSession, key: Hashable) -> None:
    session.info.get(_PER_TRANSACTION, {}).pop(key, None)


@event.listens_for(OrmSession, "after_commit")
def _committed(session: OrmSession) -> None:
    session.info.pop(_PER_TRANSACTION, None)


@event.listens_for(OrmSession, "after_soft_rollback")  # any rollback, a savepoint's included
def _rolled_back(session: OrmSession, _previous_transaction: Any) -> None:
    session.info.pop(_PER_TRANSACTION, None)


def plan_for_these_values(session: OrmSession) -> None:
    """On PostgreSQL, plan every statement of this transaction for its own parameter values.

    psycopg prepares a statement once a connection has run it 5 times, and PostgreSQL then
    tries a generic plan - one for any values - after 5 more. For the reporting queries over
    months of rows (`occurred_at >= $1`), the generic plan is the slow one: at a million leads
    the dashboard's full snapshot went from 1.8 s to 3.7 s after its tenth run on a worker's
    connection. Planning costs a millisecond; those queries take hundreds. `SET LOCAL` ends
    with the transaction, so the intake's short statements keep their cached plans."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def insert_row(session: OrmSession, row: M) -> M:
    """INSERT `row` now and attach it to `session` as persistent (its key from RETURNING): a
    single Core statement instead of a unit-of-work flush, for rows written on hot paths (a
    lead's activities, notifications, audit entries). Every column is set in Python (no table
    has database-side defaults), so `row` is what the table holds. The rows its foreign keys
    name must already be in the database: nothing pending is flushed first."""
    stored = _insert(session, row, unique=None)
    assert stored is not None  # no conflict clause: a clash raises IntegrityError
    return stored


def insert_unless_taken(session: OrmSession, row: M, *, unique: list[str]) -> M | None:
    """INSERT `row` unless its `unique` key is taken (ON CONFLICT DO NOTHING ... RETURNING, on
    PostgreSQL and SQLite alike): `row` itself, now persistent in `session`, or None when another
    row already holds the key. One round trip where savepoint + insert + release took three,
    and a clash leaves the surrounding transaction usable."""
    return _insert(session, row, unique=tuple(unique))


def _insert(session: OrmSession, row: M, *, unique: tuple[str, ...] | None) -> M | None:
    # A Core insert returning only the key, with `row` then attached as it is: building ORM
    # objects from RETURNING, or a flush, cost several times the insert itself on intake.
    table = type(row).__table__  # type: ignore[attr-defined]
    values = {
        column.key: getattr(row, column.key)
        for column in table.columns
        if not (column.primary_key and getattr(row, column.key) is None)
    }
    stmt = _insert_stmt(session.get_bind().dialect.name, table, tuple(values), unique)
    # Pending changes wait for the next query or the commit: an insert whose keys already exist
    # needs none of them, and flushing them here cost a unit-of-work pass per insert.
    with session.no_autoflush:
        key = session.execute(stmt, values).first()
    if key is None:
        return None
    for column, value in zip(table.primary_key.columns, key, strict=True):
        setattr(row, column.key, value)
    make_transient_to_detached(row)
    session.add(row)
    return row


@functools.lru_cache(maxsize=256)
def _insert_stmt(dialect: str, table: Any, columns: tuple, unique: tuple | None) -> Any:
    """One statement per table, column set and key (SQLAlchemy then caches its compiled form
    instead of building a cache key over the values on every call)."""
    from sqlalchemy.dialects import postgresql, sqlite

    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if unique is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(unique))
    return stmt.returning(*table.primary_key.columns)
