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

    def put_sync(self, data: bytes, sha256: str | None = None) -> str:
        """Blocking put, for code that is not on an event loop (compute workers)."""
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        path = self._path(sha256)
        if not self.fs.exists(path):
            self._write(path, data)
        return sha256

    def _write(self, path: str, data: bytes) -> None:
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        temp = f"{path}.tmp-{secrets.token_hex(8)}"
        with self.fs.open(temp, "wb") as handle:
            handle.write(data)
        self.fs.mv(temp, path)

    def get_sync(self, sha256: str) -> bytes:
        path = self._path(sha256)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFound(f"artifact {sha256} does not exist", code="artifact_not_found") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"artifact {sha256} is corrupted in the object store")
        return data

    async def put(self, data: bytes) -> str:
        return await to_thread.run_sync(self.put_sync, data)

    async def get(self, sha256: str) -> bytes:
        return await to_thread.run_sync(self.get_sync, sha256)

    async def exists(self, sha256: str) -> bool:
        return await to_thread.run_sync(self.fs.exists, self._path(sha256))

    def _named(self, namespace: str, key: str) -> str:
        if not re.match(r"^[a-z]+$", namespace) or not _SHA256.match(key):
            raise ValueError("named entries are addressed by a namespace and a sha256 key")
        return f"{self.root}/{namespace}/{key[:2]}/{key}"

    def put_named_sync(self, namespace: str, key: str, data: bytes) -> None:
        """A small mutable index entry (e.g. the step cache: key -> outputs); replaced atomically."""
        self._write(self._named(namespace, key), data)

    def get_named_sync(self, namespace: str, key: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._named(namespace, key))
        except FileNotFoundError:
            return None

    async def ping(self) -> None:
        """Reach the store; an empty bucket prefix is fine (``exists`` answers False, not an error)."""
        await to_thread.run_sync(self.fs.exists, self.root)
