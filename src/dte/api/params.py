"""Query parameters shared by list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

CursorQ = Annotated[str | None, Query(max_length=200, description="next_cursor from the previous page")]
LimitQ = Annotated[int, Query(ge=1, le=500, description="page size")]
