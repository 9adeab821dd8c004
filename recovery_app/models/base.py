"""Column helpers shared by every table.

Ids are BIGINT on PostgreSQL and INTEGER on SQLite (only `INTEGER PRIMARY KEY` autoincrements
there); JSON is JSONB on PostgreSQL; datetimes are timezone-aware UTC on both (sqlmodel's
`UTCDateTime` refuses naive values, so a local time can never slip in unnoticed).
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

# Deterministic constraint names, so migrations can drop what they created on both dialects.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_field() -> Any:
    return Field(default=None, primary_key=True, sa_type=BigId)


def fk_field(
    target: str, *, nullable: bool = False, index: bool = False, ondelete: str | None = None
) -> Any:
    """A BIGINT foreign key to `target` ("table.column")."""
    extra: dict[str, Any] = {"ondelete": ondelete} if ondelete else {}
    return Field(
        default=None, foreign_key=target, sa_type=BigId, nullable=nullable, index=index, **extra
    )


def created_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


def when_field(*, index: bool = False) -> Any:
    """An optional moment (e.g. `first_response_at`): NULL until it happens."""
    return Field(default=None, sa_type=UTCDateTime(), nullable=True, index=index)


def str_field(
    length: int, default: Any = None, *, nullable: bool = True, index: bool = False
) -> Any:
    return Field(default=default, sa_type=String(length), nullable=nullable, index=index)


def text_field(default: Any = None, *, nullable: bool = True) -> Any:
    return Field(default=default, sa_type=Text(), nullable=nullable)


def json_field(factory: Any = dict) -> Any:
    return Field(default_factory=factory, sa_type=JsonType, nullable=False)


def pk(row: Any) -> int:
    """The primary key of a flushed row (typed `int | None` on the model only for inserts)."""
    assert row.id is not None, f"{type(row).__name__} has no id yet: flush it first"
    return int(row.id)
