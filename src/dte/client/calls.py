"""Every API call described once - method, path, body, how to read the answer - for both clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from dte.domain.catalogue import Application, ApplicationVersion, PublishResult
from dte.domain.common import Page
from dte.domain.projects import Me, Member, Project, Token, TokenSecret, User
from dte.domain.twins import Twin, TwinState

T = TypeVar("T")


class ApiError(Exception):
    """A problem-details answer from the engine: ``status``, stable ``code``, ``detail``, field ``errors``."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code: str = problem.get("code", "error")
        self.detail: str = problem.get("detail", "")
        self.errors: list[dict[str, Any]] = problem.get("errors", [])
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.status} {self.code}: {self.detail}"]
        lines += [f"  {e.get('pointer') or '/'} ({e.get('location', 'body')}): {e.get('detail')}" for e in self.errors]
        return "\n".join(lines)


@dataclass
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request_kwargs(self) -> dict[str, Any]:
        params = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.params.items() if v is not None}
        kwargs: dict[str, Any] = {"params": params, "headers": self.headers}
        if self.content is not None:
            kwargs["content"] = self.content
        elif self.json is not None:
            kwargs["json"] = self.json
        return kwargs


def check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text[:500] or response.reason_phrase}
    if not isinstance(problem, dict):
        problem = {"detail": str(problem)}
    raise ApiError(response.status_code, problem)


def model(kind: Any) -> Callable[[httpx.Response], Any]:
    adapter = TypeAdapter(kind)
    return lambda r: adapter.validate_json(check(r).content)


def nothing(response: httpx.Response) -> None:
    check(response)


def raw(response: httpx.Response) -> bytes:
    return check(response).content


def dump(body: BaseModel | dict[str, Any]) -> Any:
    return body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body


def if_match(revision: int | None) -> dict[str, str]:
    return {"If-Match": f'"{revision}"'} if revision is not None else {}


# --- projects, users, tokens -------------------------------------------------------------------

def me() -> Call[Me]:
    return Call("GET", "/api/v1/me", model(Me))


def project_create(name: str, title: str = "", description: str = "") -> Call[Project]:
    return Call("POST", "/api/v1/projects", model(Project), json={"name": name, "title": title, "description": description})


def project_list(cursor: str | None = None, limit: int = 50) -> Call[Page[Project]]:
    return Call("GET", "/api/v1/projects", model(Page[Project]), params={"cursor": cursor, "limit": limit})


def project_get(name: str) -> Call[Project]:
    return Call("GET", f"/api/v1/projects/{name}", model(Project))


def member_list(project: str) -> Call[list[Member]]:
    return Call("GET", f"/api/v1/projects/{project}/members", model(list[Member]))


def member_set(project: str, username: str, role: str) -> Call[Member]:
    return Call("PUT", f"/api/v1/projects/{project}/members/{username}", model(Member), json={"role": role})


def member_remove(project: str, username: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/projects/{project}/members/{username}", nothing)


def user_create(username: str, display_name: str = "", email: str | None = None,
                platform_admin: bool = False) -> Call[User]:
    body = {"username": username, "display_name": display_name, "email": email, "platform_admin": platform_admin}
    return Call("POST", "/api/v1/users", model(User), json=body)


def user_list(cursor: str | None = None, limit: int = 50) -> Call[Page[User]]:
    return Call("GET", "/api/v1/users", model(Page[User]), params={"cursor": cursor, "limit": limit})


def token_create(name: str, scopes: list[str] | None = None, project: str | None = None,
                 expires_in_days: int | None = 90, username: str | None = None) -> Call[TokenSecret]:
    body: dict[str, Any] = {"name": name, "project": project, "expires_in_days": expires_in_days}
    if scopes is not None:
        body["scopes"] = scopes
    path = f"/api/v1/users/{username}/tokens" if username else "/api/v1/tokens"
    return Call("POST", path, model(TokenSecret), json=body)


def token_list() -> Call[list[Token]]:
    return Call("GET", "/api/v1/tokens", model(list[Token]))


def token_revoke(token_id: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/tokens/{token_id}", nothing)


# --- catalogue -----------------------------------------------------------------------------------

def app_publish(project: str, bundle: bytes, visibility: str = "private") -> Call[PublishResult]:
    return Call("POST", "/api/v1/applications", model(PublishResult), params={"project": project, "visibility": visibility},
                content=bundle, headers={"Content-Type": "application/gzip"})


def app_search(q: str | None = None, tag: str | None = None, project: str | None = None,
               cursor: str | None = None, limit: int = 50) -> Call[Page[Application]]:
    params = {"q": q, "tag": tag, "project": project, "cursor": cursor, "limit": limit}
    return Call("GET", "/api/v1/applications", model(Page[Application]), params=params)


def app_get(name: str) -> Call[Application]:
    return Call("GET", f"/api/v1/applications/{name}", model(Application))


def app_set_visibility(name: str, visibility: str) -> Call[Application]:
    return Call("PATCH", f"/api/v1/applications/{name}", model(Application), json={"visibility": visibility})


def app_versions(name: str) -> Call[list[ApplicationVersion]]:
    return Call("GET", f"/api/v1/applications/{name}/versions", model(list[ApplicationVersion]))


def app_version(name: str, version: str = "latest") -> Call[ApplicationVersion]:
    return Call("GET", f"/api/v1/applications/{name}/versions/{version}", model(ApplicationVersion))


def app_deprecate(name: str, version: str, message: str, deprecated: bool = True) -> Call[ApplicationVersion]:
    body = {"deprecated": deprecated, "deprecation_message": message}
    return Call("PATCH", f"/api/v1/applications/{name}/versions/{version}", model(ApplicationVersion), json=body)


def app_bundle(name: str, version: str = "latest") -> Call[bytes]:
    return Call("GET", f"/api/v1/applications/{name}/versions/{version}/bundle", raw)


# --- twins ---------------------------------------------------------------------------------------

def twin_create(project: str, name: str, application: str, version: str | None = None,
                parameters: dict[str, Any] | None = None, bindings: dict[str, Any] | None = None,
                description: str = "", status: str = "created") -> Call[Twin]:
    body = {"project": project, "name": name, "application": application, "version": version,
            "parameters": parameters or {}, "bindings": bindings or {}, "description": description, "status": status}
    return Call("POST", "/api/v1/twins", model(Twin), json=body)


def twin_list(project: str | None = None, application: str | None = None, status: str | None = None,
              cursor: str | None = None, limit: int = 50, name: str | None = None) -> Call[Page[Twin]]:
    params = {"project": project, "application": application, "status": status, "name": name,
              "cursor": cursor, "limit": limit}
    return Call("GET", "/api/v1/twins", model(Page[Twin]), params=params)


def twin_get(twin_id: str) -> Call[Twin]:
    return Call("GET", f"/api/v1/twins/{twin_id}", model(Twin))


def twin_update(twin_id: str, changes: dict[str, Any], revision: int | None = None) -> Call[Twin]:
    return Call("PATCH", f"/api/v1/twins/{twin_id}", model(Twin), json=changes, headers=if_match(revision))


def twin_state(twin_id: str, as_of: datetime | None = None) -> Call[TwinState]:
    return Call("GET", f"/api/v1/twins/{twin_id}/state", model(TwinState), params={"as_of": as_of})


def twin_set_state(twin_id: str, kind: str, document: dict[str, Any], merge: bool = False,
                   revision: int | None = None) -> Call[TwinState]:
    content_type = "application/merge-patch+json" if merge else "application/json"
    return Call("PATCH" if merge else "PUT", f"/api/v1/twins/{twin_id}/state/{kind}", model(TwinState),
                content=json.dumps(document).encode(), headers={"Content-Type": content_type, **if_match(revision)})


def twin_history(twin_id: str, since: datetime | None = None, until: datetime | None = None,
                 cursor: str | None = None, limit: int = 50) -> Call[Page[TwinState]]:
    params = {"since": since, "until": until, "cursor": cursor, "limit": limit}
    return Call("GET", f"/api/v1/twins/{twin_id}/state/history", model(Page[TwinState]), params=params)
