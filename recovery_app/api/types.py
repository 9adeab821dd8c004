"""Path and query parameters that name rows: bounded to what the database holds, so a
20-digit id answers 422 (it used to be a 500: "bigint out of range")."""

from typing import Annotated

from fastapi import Path, Query

from recovery_app.domain.ids import MAX_ID

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
