"""The catalogue of DT applications."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dte.api.deps import Caller, Catalogue
from dte.api.params import CursorQ, LimitQ
from dte.domain.catalogue import (
    Application,
    ApplicationUpdate,
    ApplicationVersion,
    PublishResult,
    VersionUpdate,
    Visibility,
)
from dte.domain.common import Page

router = APIRouter(prefix="/api/v1/applications", tags=["catalogue"])

BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "description": "the application bundle: a tar.gz with dte-app.yaml at its top level",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("", summary="Publish an application version from a bundle", openapi_extra=BUNDLE_BODY,
             status_code=201, responses={200: {"model": PublishResult, "description": "identical bundle already published"}})
async def publish(
    request: Request,
    response: Response,
    caller: Caller,
    svc: Catalogue,
    project: Annotated[str, Query(description="the publishing project")],
    visibility: Annotated[Visibility, Query(description="for a new application")] = Visibility.PRIVATE,
) -> PublishResult:
    result = await svc.publish(caller, project, await request.body(), visibility)
    if not result.created:
        response.status_code = 200
    return result


@router.get("", summary="Browse and search the catalogue")
async def search(
    caller: Caller,
    svc: Catalogue,
    q: Annotated[str | None, Query(max_length=200, description="words in name, summary, description, tags")] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    project: Annotated[str | None, Query(description="only this project's applications")] = None,
    cursor: CursorQ = None,
    limit: LimitQ = 50,
) -> Page[Application]:
    items, next_cursor = await svc.search(caller, q, tag, project, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{name}", summary="One application")
async def get_application(name: str, caller: Caller, svc: Catalogue) -> Application:
    return await svc.get(caller, name)


@router.patch("/{name}", summary="Change an application's visibility (developer)")
async def update_application(name: str, body: ApplicationUpdate, caller: Caller, svc: Catalogue) -> Application:
    return await svc.update(caller, name, body)


@router.get("/{name}/versions", summary="Versions, newest first")
async def list_versions(name: str, caller: Caller, svc: Catalogue) -> list[ApplicationVersion]:
    return await svc.versions(caller, name)


@router.get("/{name}/versions/{version}", summary="One version with its manifest ('latest' works)")
async def get_version(name: str, version: str, caller: Caller, svc: Catalogue) -> ApplicationVersion:
    return await svc.version(caller, name, version)


@router.patch("/{name}/versions/{version}", summary="Deprecate or un-deprecate a version (developer)")
async def update_version(name: str, version: str, body: VersionUpdate, caller: Caller, svc: Catalogue) -> ApplicationVersion:
    return await svc.update_version(caller, name, version, body)


@router.get("/{name}/versions/{version}/bundle", summary="Download a version's bundle (tar.gz)",
            response_class=Response, responses={200: {"content": {"application/gzip": {}}}})
async def get_bundle(name: str, version: str, caller: Caller, svc: Catalogue) -> Response:
    resolved, sha256, data = await svc.bundle(caller, name, version)
    return Response(data, media_type="application/gzip", headers={
        "ETag": f'"{sha256}"',
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:",  # RFC 9530
        "Content-Disposition": f'attachment; filename="{name}-{resolved}.tar.gz"',
    })
