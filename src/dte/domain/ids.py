"""Identifiers that sort by creation time, so keyset pagination on the id is stable."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """A 32-character lowercase hex id: 48-bit millisecond timestamp + 80 random bits."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)
