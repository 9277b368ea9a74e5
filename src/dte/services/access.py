"""Who is calling and what they may do: roles per project plus the scopes of their token.

Every service call takes a :class:`Principal` and checks it here, so every path to the data
(lists, searches, history, exports) is covered - not only the routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from dte.domain.errors import Forbidden, NotFound
from dte.domain.projects import Role, Scope

# Denials of the current request: (project id, why). The audit trail opens a list per request; a
# refusal that answers 404 to hide a resource is a denied access all the same and is noted here.
_denials: ContextVar[list[tuple[str, str]] | None] = ContextVar("dte_denials", default=None)


def collect_denials() -> list[tuple[str, str]]:
    """Start noting denials for the current request (context); returns the list they go to."""
    found: list[tuple[str, str]] = []
    _denials.set(found)
    return found


def _deny(project_id: str, why: str) -> None:
    found = _denials.get()
    if found is not None and len(found) < 20:
        found.append((project_id, why))


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    platform_admin: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)  # project id -> role
    scopes: frozenset[Scope] = frozenset(Scope)
    token_project_id: str | None = None  # a token restricted to one project

    def role_in(self, project_id: str) -> Role | None:
        if self.token_project_id is not None and project_id != self.token_project_id:
            return None
        if self.platform_admin:
            return Role.ADMIN
        return self.roles.get(project_id)

    def visible_projects(self) -> set[str] | None:
        """Project ids whose resources this principal may see; ``None`` means all of them."""
        if self.token_project_id is not None:
            return {self.token_project_id} if self.role_in(self.token_project_id) else set()
        return None if self.platform_admin else set(self.roles)

    def can_see(self, project_id: str) -> bool:
        """Whether the caller may see this (existing) project's resources; a no is a noted denial."""
        if self.role_in(project_id) is not None and Scope.READ in self.scopes:
            return True
        _deny(project_id, "not visible to the caller")
        return False

    def require(self, project_id: str, role: Role, scope: Scope, hidden: str, hidden_code: str = "not_found") -> None:
        """Allow or raise. Non-members get ``NotFound(hidden, hidden_code)``, the answer for a
        missing resource, so they learn nothing."""
        current = self.role_in(project_id)
        if current is None:
            _deny(project_id, "not a member")
            raise NotFound(hidden, code=hidden_code)
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the {scope!s} scope", code="insufficient_scope")
        if not current.includes(role):
            raise Forbidden(f"this needs the {role!s} role in the project; you have {current!s}", code="insufficient_role")

    def require_platform_admin(self) -> None:
        if not self.platform_admin:
            raise Forbidden("this needs the platform admin role", code="insufficient_role")
        if self.token_project_id is not None:  # else it could mint unrestricted users and tokens
            raise Forbidden("a token restricted to one project cannot act as platform admin", code="insufficient_scope")
        if Scope.ADMIN not in self.scopes:
            raise Forbidden("this token lacks the admin scope", code="insufficient_scope")
