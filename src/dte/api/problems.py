"""RFC 9457 problem details for every error, with a stable ``code`` and the bad fields' pointers."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException

from dte.domain.errors import DteError, FieldError
from dte.domain.validation import json_pointer

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("dte.api")


def problem(status: int, code: str, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:dte:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [{"pointer": e.pointer, "detail": e.detail, "location": e.location} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _request_errors(exc: RequestValidationError) -> tuple[int, str, str, list[FieldError]]:
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        location = str(loc.pop(0)) if loc else "body"
        if err.get("type") == "json_invalid":
            return 400, "malformed_json", f"the request body is not valid JSON: {err.get('msg')}", []
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(FieldError(json_pointer(loc), message, location))
    return 422, "invalid_input", "the request is invalid; see errors", errors


def install(app: FastAPI) -> None:
    @app.exception_handler(DteError)
    async def dte_error(request: Request, exc: DteError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="dte"'} if exc.status == 401 else None
        if exc.status >= 500:
            log.error("engine_error", code=exc.code, detail=exc.detail, path=request.url.path)
        return problem(exc.status, exc.code, exc.detail, exc.errors, headers, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, detail, errors = _request_errors(exc)
        return problem(status, code, detail, errors, instance=request.url.path)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        cause = exc.__cause__  # FastAPI wraps what goes wrong while it reads and parses the body
        if isinstance(cause, DteError):
            return await dte_error(request, cause)
        if exc.status_code == 400 and isinstance(cause, (ValueError, RecursionError)):  # not UTF-8, too deep
            return problem(400, "malformed_json", f"the request body is not valid JSON: {cause}",
                           instance=request.url.path)
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        return problem(exc.status_code, code, str(exc.detail), headers=exc.headers, instance=request.url.path)

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint caught a race the service checks did not (two identical creates at once).
        log.warning("integrity_conflict", path=request.url.path, error=str(exc.orig))
        return problem(409, "conflict", "the request conflicts with a concurrent change; retry",
                       instance=request.url.path)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (PostgreSQL: NUL characters, out-of-range numbers); nothing was written.
        log.warning("data_error", path=request.url.path, error=str(exc.orig))
        return problem(422, "invalid_value", "the request holds a value the database cannot store "
                       "(for example a NUL character)", instance=request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem(500, "internal_error", "the engine failed to handle the request; it has been logged",
                       instance=request.url.path)
