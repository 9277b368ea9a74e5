"""SDK calls for AAI: passwords, OAuth clients, the audit log, and the OAuth login flows of the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from dte.client.calls import Call, model, nothing
from dte.domain.common import Page
from dte.domain.identity import AuditEntry, AuditVerification, Client, ClientSecret

T = TypeVar("T")


def password_set(username: str, password: str) -> Call[None]:
    return Call("PUT", f"/api/v1/users/{username}/password", nothing, json={"password": password})


def client_create(name: str, redirect_uris: list[str] | None = None) -> Call[ClientSecret]:
    return Call("POST", "/api/v1/clients", model(ClientSecret), json={"name": name, "redirect_uris": redirect_uris or []})


def client_list() -> Call[list[Client]]:
    return Call("GET", "/api/v1/clients", model(list[Client]))


def client_delete(client_id: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/clients/{client_id}", nothing)


def audit_list(project: str | None = None, actor: str | None = None, outcome: str | None = None,
               since: datetime | None = None, until: datetime | None = None, cursor: str | None = None,
               limit: int = 50) -> Call[Page[AuditEntry]]:
    params = {"project": project, "actor": actor, "outcome": outcome, "since": since, "until": until,
              "cursor": cursor, "limit": limit}
    return Call("GET", "/api/v1/audit", model(Page[AuditEntry]), params=params)


def audit_verify() -> Call[AuditVerification]:
    return Call("GET", "/api/v1/audit/verify", model(AuditVerification))


class AaiMixin:
    """The synchronous AAI methods of :class:`~dte.client.Client`."""

    def send(self, call: Call[T]) -> T:  # provided by the client
        raise NotImplementedError

    def password_set(self, username: str, password: str) -> None:
        self.send(password_set(username, password))

    def client_create(self, name: str, redirect_uris: list[str] | None = None) -> ClientSecret:
        return self.send(client_create(name, redirect_uris))

    def client_list(self) -> list[Client]:
        return self.send(client_list())

    def client_delete(self, client_id: str) -> None:
        self.send(client_delete(client_id))

    def audit_list(self, project: str | None = None, actor: str | None = None, outcome: str | None = None,
                   since: datetime | None = None, until: datetime | None = None, cursor: str | None = None,
                   limit: int = 50) -> Page[AuditEntry]:
        return self.send(audit_list(project, actor, outcome, since, until, cursor, limit))

    def audit_verify(self) -> AuditVerification:
        return self.send(audit_verify())
