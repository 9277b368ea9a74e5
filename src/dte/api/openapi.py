"""The OpenAPI document: bearer security on every protected route, problem details for errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PUBLIC_PREFIXES = ("/healthz", "/readyz", "/metrics", "/api/v1/schemas/", "/.well-known/", "/oauth2/")
PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable, machine-readable error code"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "RFC 6901 JSON pointer of the bad field"},
                    "detail": {"type": "string"},
                    "location": {"enum": ["body", "query", "path", "header"]},
                },
            },
        },
    },
}
_ERRORS = {
    "400": "malformed request",
    "401": "missing or invalid token",
    "403": "the token's role or scope does not allow this",
    "404": "not found, or not visible to the caller",
    "409": "conflicts with the current state",
    "412": "If-Match did not match the current revision",
    "413": "request body too large",
    "422": "invalid input; errors[] names each bad field",
}


def install(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = spec.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer", "description": "a DTE personal access token (dte_pat_...)"}
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = PROBLEM
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in spec.get("paths", {}).items():
            public = path.startswith(PUBLIC_PREFIXES)
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status, description in _ERRORS.items():
                    if public and status in ("401", "403", "404", "409", "412"):
                        continue
                    if method == "get" and status in ("409", "412", "413"):
                        continue
                    responses[status] = {"description": description, "content": problem_ref}
                if not public:
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = spec
        return spec

    app.openapi = build  # type: ignore[method-assign]
