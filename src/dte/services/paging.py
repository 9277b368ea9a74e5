"""Keyset pagination: the cursor is the opaque, url-safe encoding of the last key returned."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dte.domain.errors import FieldError, InvalidInput

T = TypeVar("T")
_BAD_CURSOR = FieldError("/cursor", "invalid cursor", "query")


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        key = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        key = ""
    if not key.isprintable() or not key:  # every key this API pages on is printable ASCII
        raise InvalidInput("the cursor is not one this API returned", errors=[_BAD_CURSOR])
    return key


async def page(
    session: AsyncSession,
    stmt: Select[Any],
    key: InstrumentedAttribute[Any],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """Rows after ``cursor`` ordered by the unique column ``key``; and the next cursor or None."""
    if cursor:
        last: Any = decode_cursor(cursor)
        if key.type.python_type is int:
            if not (last.isdigit() and int(last) < 2**31):  # the integer keys paged on are 32-bit
                raise InvalidInput("the cursor is not one this API returned", errors=[_BAD_CURSOR])
            last = int(last)
        stmt = stmt.where(key < last if descending else key > last)
    stmt = stmt.order_by(key.desc() if descending else key).limit(limit + 1)
    rows = (await session.scalars(stmt)).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(str(getattr(rows[-1], key.key)))
