"""Ports the services depend on; adapters implement them."""

from __future__ import annotations

from typing import Protocol


class ObjectStore(Protocol):
    """Immutable, content-addressed bytes (sha256). Writes are atomic; reads verify the hash."""

    async def put(self, data: bytes) -> str: ...

    async def get(self, sha256: str) -> bytes: ...

    async def exists(self, sha256: str) -> bool: ...

    async def ping(self) -> None: ...
