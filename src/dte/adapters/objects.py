"""Content-addressed object store over fsspec: a local folder by default, any fsspec URL (s3://...)."""

from __future__ import annotations

import hashlib
import re
import secrets

import fsspec
from anyio import to_thread

from dte.domain.errors import DteError, NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class IntegrityError(DteError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, "artifact_corrupted", 500)


class FsspecObjectStore:
    """Objects live at ``<root>/sha256/<aa>/<bb>/<hash>``; a write goes to a temp name then moves."""

    def __init__(self, url: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.fs.makedirs(self.root, exist_ok=True)

    def _path(self, sha256: str) -> str:
        if not _SHA256.match(sha256):
            raise NotFound(f"artifact {sha256!r} does not exist", code="artifact_not_found")
        return f"{self.root}/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _put(self, data: bytes, sha256: str) -> None:
        path = self._path(sha256)
        if self.fs.exists(path):
            return
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        temp = f"{path}.tmp-{secrets.token_hex(8)}"
        with self.fs.open(temp, "wb") as handle:
            handle.write(data)
        self.fs.mv(temp, path)

    def _get(self, sha256: str) -> bytes:
        path = self._path(sha256)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFound(f"artifact {sha256} does not exist", code="artifact_not_found") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"artifact {sha256} is corrupted in the object store")
        return data

    async def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        await to_thread.run_sync(self._put, data, sha256)
        return sha256

    async def get(self, sha256: str) -> bytes:
        return await to_thread.run_sync(self._get, sha256)

    async def exists(self, sha256: str) -> bool:
        return await to_thread.run_sync(self.fs.exists, self._path(sha256))

    async def ping(self) -> None:
        """Reach the store; an empty bucket prefix is fine (``exists`` answers False, not an error)."""
        await to_thread.run_sync(self.fs.exists, self.root)
