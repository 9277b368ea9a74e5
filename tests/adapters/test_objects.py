"""The content-addressed object store over fsspec: local folder and another fsspec protocol alike."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from dte.adapters.objects import FsspecObjectStore, IntegrityError
from dte.domain.errors import NotFound


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FsspecObjectStore:
    url = str(tmp_path / "objects") if request.param == "local" else f"memory://dte-test/{tmp_path.name}"
    return FsspecObjectStore(url)


def test_put_get_is_content_addressed(store: FsspecObjectStore) -> None:
    async def scenario() -> None:
        await store.ping()
        digest = await store.put(b"bundle bytes")
        assert digest == hashlib.sha256(b"bundle bytes").hexdigest()
        assert await store.put(b"bundle bytes") == digest  # idempotent
        assert await store.exists(digest)
        assert await store.get(digest) == b"bundle bytes"

    asyncio.run(scenario())


def test_tampered_object_is_detected(store: FsspecObjectStore) -> None:
    async def scenario() -> None:
        digest = await store.put(b"original")
        with store.fs.open(store._path(digest), "wb") as handle:
            handle.write(b"tampered")
        with pytest.raises(IntegrityError):
            await store.get(digest)

    asyncio.run(scenario())


def test_unknown_and_malformed_addresses(store: FsspecObjectStore) -> None:
    async def scenario() -> None:
        with pytest.raises(NotFound):
            await store.get("0" * 64)
        with pytest.raises(NotFound):
            await store.get("../../etc/passwd")

    asyncio.run(scenario())
