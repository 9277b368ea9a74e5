"""The SDK's clients: a thin transport that sends :class:`~dte.client.calls.Call` objects."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from dte import __version__
from dte.client import calls
from dte.client.aai import AaiMixin
from dte.client.calls import ApiError, Call
from dte.client.config import resolve_token, resolve_url
from dte.client.physical import PhysicalTwinMixin
from dte.client.runs import RunsMixin
from dte.client.workflows import WorkflowMixin
from dte.domain.bundle import extract
from dte.domain.catalogue import Application, ApplicationVersion, PublishResult
from dte.domain.common import Page
from dte.domain.projects import Me, Member, Project, Token, TokenSecret, User
from dte.domain.twins import Twin, TwinState
from dte.sdk.build import build_bundle

T = TypeVar("T")
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


def _headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": f"dte-client/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class AsyncClient:
    """``async with AsyncClient() as c: twin = await c.send(calls.twin_get(twin_id))``."""

    def __init__(self, url: str | None = None, token: str | None = None, *, http: httpx.AsyncClient | None = None,
                 timeout: float = 30.0) -> None:
        self.url = resolve_url(url)
        self.http = http or httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self.http.headers.update(_headers(resolve_token(token, self.url)))

    async def send(self, call: Call[T]) -> T:
        response = await self.http.request(call.method, call.path, **call.request_kwargs())
        return call.parse(response)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Client(PhysicalTwinMixin, AaiMixin, RunsMixin, WorkflowMixin):
    """Synchronous client: ``Client(url, token).twin_get(twin_id)``. Any httpx.Client can carry it."""

    def __init__(self, url: str | None = None, token: str | None = None, *, http: httpx.Client | None = None,
                 timeout: float = 30.0) -> None:
        self.url = resolve_url(url)
        self.http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self.http.headers.update(_headers(resolve_token(token, self.url)))

    def send(self, call: Call[T]) -> T:
        response = self.http.request(call.method, call.path, **call.request_kwargs())
        return call.parse(response)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # projects, users, tokens
    def me(self) -> Me:
        return self.send(calls.me())

    def project_create(self, name: str, title: str = "", description: str = "") -> Project:
        return self.send(calls.project_create(name, title, description))

    def project_list(self, cursor: str | None = None, limit: int = 50) -> Page[Project]:
        return self.send(calls.project_list(cursor, limit))

    def project_get(self, name: str) -> Project:
        return self.send(calls.project_get(name))

    def member_list(self, project: str) -> list[Member]:
        return self.send(calls.member_list(project))

    def member_set(self, project: str, username: str, role: str) -> Member:
        return self.send(calls.member_set(project, username, role))

    def member_remove(self, project: str, username: str) -> None:
        return self.send(calls.member_remove(project, username))

    def user_create(self, username: str, display_name: str = "", email: str | None = None,
                    platform_admin: bool = False) -> User:
        return self.send(calls.user_create(username, display_name, email, platform_admin))

    def user_list(self, cursor: str | None = None, limit: int = 50) -> Page[User]:
        return self.send(calls.user_list(cursor, limit))

    def token_create(self, name: str, scopes: list[str] | None = None, project: str | None = None,
                     expires_in_days: int | None = 90, username: str | None = None) -> TokenSecret:
        return self.send(calls.token_create(name, scopes, project, expires_in_days, username))

    def token_list(self) -> list[Token]:
        return self.send(calls.token_list())

    def token_revoke(self, token_id: str) -> None:
        return self.send(calls.token_revoke(token_id))

    # catalogue
    def app_publish(self, project: str, directory: Path | str, visibility: str = "private") -> PublishResult:
        """Build ``directory`` into a bundle (canonical tar.gz with its component index) and publish it."""
        return self.send(calls.app_publish(project, build_bundle(Path(directory)), visibility))

    def app_search(self, q: str | None = None, tag: str | None = None, project: str | None = None,
                   cursor: str | None = None, limit: int = 50) -> Page[Application]:
        return self.send(calls.app_search(q, tag, project, cursor, limit))

    def app_get(self, name: str) -> Application:
        return self.send(calls.app_get(name))

    def app_set_visibility(self, name: str, visibility: str) -> Application:
        return self.send(calls.app_set_visibility(name, visibility))

    def app_versions(self, name: str) -> list[ApplicationVersion]:
        return self.send(calls.app_versions(name))

    def app_version(self, name: str, version: str = "latest") -> ApplicationVersion:
        return self.send(calls.app_version(name, version))

    def app_deprecate(self, name: str, version: str, message: str, deprecated: bool = True) -> ApplicationVersion:
        return self.send(calls.app_deprecate(name, version, message, deprecated))

    def app_pull(self, name: str, version: str, target: Path | str) -> list[Path]:
        """Download a version's bundle and unpack it into ``target`` (empty or new)."""
        return extract(self.send(calls.app_bundle(name, version)), Path(target), MAX_BUNDLE_BYTES)

    # twins
    def twin_create(self, project: str, name: str, application: str, version: str | None = None,
                    parameters: dict[str, Any] | None = None, bindings: dict[str, Any] | None = None,
                    description: str = "", status: str = "created") -> Twin:
        return self.send(calls.twin_create(project, name, application, version, parameters, bindings, description, status))

    def twin_list(self, project: str | None = None, application: str | None = None, status: str | None = None,
                  cursor: str | None = None, limit: int = 50, name: str | None = None) -> Page[Twin]:
        return self.send(calls.twin_list(project, application, status, cursor, limit, name))

    def twin_find(self, reference: str) -> Twin:
        """A twin by id, or by ``project/name``."""
        project, sep, name = reference.partition("/")
        if not sep:
            return self.twin_get(reference)
        found = self.twin_list(project=project, name=name, limit=1).items
        if not found:
            raise ApiError(404, {"code": "twin_not_found", "detail": f"project {project!r} has no twin {name!r}"})
        return found[0]

    def twin_get(self, twin_id: str) -> Twin:
        return self.send(calls.twin_get(twin_id))

    def twin_update(self, twin_id: str, changes: dict[str, Any], revision: int | None = None) -> Twin:
        return self.send(calls.twin_update(twin_id, changes, revision))

    def twin_state(self, twin_id: str, as_of: datetime | None = None) -> TwinState:
        return self.send(calls.twin_state(twin_id, as_of))

    def twin_set_state(self, twin_id: str, kind: str, document: dict[str, Any], merge: bool = False,
                       revision: int | None = None) -> TwinState:
        return self.send(calls.twin_set_state(twin_id, kind, document, merge, revision))

    def twin_history(self, twin_id: str, since: datetime | None = None, until: datetime | None = None,
                     cursor: str | None = None, limit: int = 50) -> Page[TwinState]:
        return self.send(calls.twin_history(twin_id, since, until, cursor, limit))
