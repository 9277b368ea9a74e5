"""Identity and audit vocabulary: claims-mapping rules, OAuth clients, passwords, audit entries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from dte.domain.common import Input, Resource
from dte.domain.errors import DteError
from dte.domain.projects import Role, Username


class TokenRejected(Exception):
    """A bearer JWT is not acceptable; the message says why in words safe to show the caller."""


@dataclass(frozen=True)
class VerifiedToken:
    """A JWT whose signature, issuer, audience and times have been checked."""

    issuer: str
    subject: str
    claims: Mapping[str, Any]


class ClaimRule(BaseModel):
    """Maps a token claim to a project role: ``claim`` holds a string or a list of strings; each value
    that fully matches ``match`` (a regular expression) grants ``role`` in ``project``.

    ``project`` and ``role`` may name groups of the expression (``{project}``, ``{role}``), so one rule
    covers every project of an ``eduperson_entitlement`` URN scheme. ``issuer`` limits a rule to the
    tokens of one issuer; ``platform_admin`` makes the match a platform admin instead.
    """

    claim: str = Field(min_length=1, description="claim name; dots walk into objects (realm_access.roles)")
    match: str = Field(min_length=1, description="regular expression the whole value must match")
    project: str = Field(default="{project}", description="project name or a {group} of match")
    role: str = Field(default="{role}", description="role name or a {group} of match")
    issuer: str | None = Field(default=None, description="only for tokens from this issuer")
    platform_admin: bool = False

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class PasswordSet(Input):
    password: str = Field(min_length=12, max_length=1024, description="at least 12 characters")


class ClientCreate(Input):
    """A machine client: it gets tokens with the client-credentials grant and acts as its own user."""

    name: Username = Field(description="client id and the name of its service user")
    redirect_uris: list[str] = Field(default_factory=list, max_length=20,
                                     description="for the authorization-code grant; empty: machines only")


class Client(Resource):
    client_id: str
    username: str | None
    redirect_uris: list[str]
    created_at: datetime


class ClientSecret(Client):
    client_secret: str = Field(description="shown only in this response")


class AuditEntry(Resource):
    seq: int
    at: datetime
    actor: str
    action: str
    project_id: str | None
    resource: str
    outcome: str
    status: int
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    entries: int
    head: str | None = Field(description="hash of the last entry")
    first_bad_seq: int | None = None
    problem: str | None = None


ROLE_NAMES = {r.value for r in Role}


class OAuthError(DteError):
    """An OAuth 2.0 error (RFC 6749 section 5.2): ``error`` is the protocol's code, also the ``code``."""

    def __init__(self, error: str, detail: str, status: int = 400):
        super().__init__(detail, error, status)


OAUTH_SCOPES = {"openid", "profile", "email", "offline_access", "read", "write", "admin"}
