"""Types for numbers that come from outside (JSON bodies, forms): strict, so `true` and "3"
are not taken for 1 and 3, and bounded, so a 20-digit id is a clear 422 rather than a
database error (ids are BIGINT; counts are INTEGER columns)."""

from typing import Annotated

from pydantic import Field, StrictInt

MAX_ID = 2**63 - 1
RowId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
# A count or an amount kept in a 32-bit column.
SmallCount = Annotated[StrictInt, Field(ge=0, le=1_000_000)]


def is_id(text: object) -> bool:
    """Text that names a row: ASCII digits only (`"²".isdigit()` is True, and `int("²")`
    raises), within BIGINT."""
    value = str(text)
    return 0 < len(value) <= 19 and value.isascii() and value.isdigit() and int(value) <= MAX_ID


def parse_id(text: object) -> int | None:
    """`text` as a row id (see `is_id`), else None."""
    return int(str(text)) if is_id(text) else None


def ascii_int(text: object, *, maximum: int) -> int | None:
    """A non-negative whole number written in ASCII digits, at most `maximum`; else None
    (also for a 5,000-digit string, which `int()` refuses)."""
    value = str(text).strip()
    if not value or not value.isascii() or not value.isdigit():
        return None
    if len(value) > len(str(maximum)):
        return None
    number = int(value)
    return number if number <= maximum else None
