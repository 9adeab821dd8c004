"""Reading webhook bodies as JSON that both SQLite and PostgreSQL can store.

json.loads is more lenient than our storage: it accepts UTF-16/32 bytes, lone surrogates,
NaN/Infinity and NUL characters, and PostgreSQL's text and JSONB columns refuse the last
three. Every webhook body goes through `loads` before it is stored and again when the stored
body is processed, so both sides agree on what the caller sent.
"""

import json
from typing import Any


def loads(raw: bytes | str) -> Any:
    """The parsed body without NUL characters (web forms do send them; dropping one is better
    than losing the lead). ValueError for anything that is not strict UTF-8 JSON, holds a lone
    surrogate or a non-finite number, or nests too deep."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        return _clean(data)
    except RecursionError:
        raise ValueError("nested too deep") from None
    except UnicodeError as exc:  # UnicodeEncodeError (a lone surrogate) is not a ValueError
        raise ValueError(str(exc)) from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError on a lone surrogate
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value
