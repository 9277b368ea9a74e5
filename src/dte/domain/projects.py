"""Projects (tenants / virtual organisations), their members and roles, users and tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from dte.domain.common import Input, Resource
from dte.domain.manifest import NAME_PATTERN


class Role(StrEnum):
    """Project roles; each includes the rights of the ones before it."""

    USER = "user"
    DEVELOPER = "developer"
    PROVIDER = "provider"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


class Scope(StrEnum):
    """What a token may do, on top of its owner's roles."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ProjectName = Annotated[str, Field(pattern=NAME_PATTERN, min_length=2, max_length=63)]
Username = Annotated[str, Field(pattern=r"^[a-z][a-z0-9._-]{1,62}$")]


class ProjectCreate(Input):
    name: ProjectName
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)


class Project(Resource):
    id: str
    name: str
    title: str
    description: str
    created_at: datetime
    role: Role | None = Field(default=None, description="the caller's role in this project")


class MemberSet(Input):
    role: Role


class Member(Resource):
    username: str
    role: Role
    added_at: datetime


class UserCreate(Input):
    username: Username
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    platform_admin: bool = False


class User(Resource):
    id: str
    username: str
    display_name: str
    email: str | None
    platform_admin: bool
    created_at: datetime


class Me(User):
    memberships: dict[str, Role] = Field(default_factory=dict, description="project name -> role")
    scopes: list[Scope] = Field(default_factory=list)


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.READ, Scope.WRITE], min_length=1)
    project: ProjectName | None = Field(default=None, description="restrict the token to one project")
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="null: never expires")


class Token(Resource):
    id: str
    name: str
    scopes: list[Scope]
    project: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenSecret(Token):
    secret: str = Field(description="the token itself; shown only in this response")
