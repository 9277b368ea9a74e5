"""Domain errors: each carries a stable ``code`` that the API maps to an RFC 9457 problem."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a JSON pointer (RFC 6901) into the submitted document and why."""

    pointer: str
    detail: str
    location: str = "body"  # body, query, path or header: where the pointer points


@dataclass
class DteError(Exception):
    """Base of every error a user can cause; ``status`` is the HTTP status it maps to."""

    detail: str
    code: str = "error"
    status: int = 400
    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        if not self.errors:
            return self.detail
        lines = [self.detail] + [f"  {e.pointer or '/'}: {e.detail}" for e in self.errors]
        return "\n".join(lines)


class InvalidInput(DteError):
    """The request or document is malformed or violates a schema (422)."""

    def __init__(self, detail: str, code: str = "invalid_input", errors: list[FieldError] | None = None):
        super().__init__(detail, code, 422, errors or [])


class NotFound(DteError):
    """The resource does not exist, or the caller may not know that it does (404)."""

    def __init__(self, detail: str, code: str = "not_found"):
        super().__init__(detail, code, 404)


class Conflict(DteError):
    """The request contradicts existing state, e.g. a duplicate name (409)."""

    def __init__(self, detail: str, code: str = "conflict"):
        super().__init__(detail, code, 409)


class PreconditionFailed(DteError):
    """An ``If-Match`` precondition did not hold: someone else changed the resource (412)."""

    def __init__(self, detail: str, code: str = "precondition_failed"):
        super().__init__(detail, code, 412)


class Unauthenticated(DteError):
    """No valid credential was presented (401)."""

    def __init__(self, detail: str, code: str = "unauthenticated"):
        super().__init__(detail, code, 401)


class Forbidden(DteError):
    """The caller is known but lacks the role or scope for this action (403)."""

    def __init__(self, detail: str, code: str = "forbidden"):
        super().__init__(detail, code, 403)


class PayloadTooLarge(DteError):
    """The request body or an uploaded bundle exceeds a configured limit (413)."""

    def __init__(self, detail: str, code: str = "payload_too_large"):
        super().__init__(detail, code, 413)
