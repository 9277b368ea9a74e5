"""Twins and their state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response

from dte.api.deps import Caller, Twins, utc
from dte.api.params import CursorQ, LimitQ
from dte.domain.common import Page
from dte.domain.twins import Twin, TwinCreate, TwinState, TwinStatus, TwinUpdate
from dte.services.twins import StateKind

router = APIRouter(prefix="/api/v1/twins", tags=["twins"])
IfMatch = Annotated[str | None, Header(alias="If-Match", description='revision ETag, e.g. "3"; 412 if it moved on')]
StateDoc = Annotated[dict[str, Any], Body(description="the whole document (PUT) or a JSON merge patch (PATCH)")]
MERGE_PATCH = {"requestBody": {"content": {"application/merge-patch+json": {"schema": {"type": "object"}},
                                           "application/json": {"schema": {"type": "object"}}}}}


def _etag(response: Response, revision: int) -> None:
    response.headers["ETag"] = f'"{revision}"'


@router.post("", status_code=201, summary="Create a twin from an application version")
async def create_twin(body: TwinCreate, response: Response, caller: Caller, svc: Twins) -> Twin:
    twin = await svc.create(caller, body)
    _etag(response, twin.revision)
    response.headers["Location"] = f"/api/v1/twins/{twin.id}"
    return twin


@router.get("", summary="List twins you can see")
async def list_twins(
    caller: Caller,
    svc: Twins,
    project: str | None = None,
    application: str | None = None,
    status: TwinStatus | None = None,
    name: str | None = None,
    cursor: CursorQ = None,
    limit: LimitQ = 50,
) -> Page[Twin]:
    items, next_cursor = await svc.list(caller, project, application, status, cursor, limit, name)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{twin_id}", summary="One twin")
async def get_twin(twin_id: str, response: Response, caller: Caller, svc: Twins) -> Twin:
    twin = await svc.get(caller, twin_id)
    _etag(response, twin.revision)
    return twin


@router.patch("/{twin_id}", summary="Change parameters, bindings, description or lifecycle status")
async def update_twin(twin_id: str, body: TwinUpdate, response: Response, caller: Caller, svc: Twins,
                      if_match: IfMatch = None) -> Twin:
    twin = await svc.update(caller, twin_id, body, if_match)
    _etag(response, twin.revision)
    return twin


@router.get("/{twin_id}/state", summary="Reported and desired state, now or as of a time")
async def get_state(
    twin_id: str,
    response: Response,
    caller: Caller,
    svc: Twins,
    as_of: Annotated[datetime | None, Query(description="ISO 8601 time; no zone means UTC")] = None,
) -> TwinState:
    state = await svc.state(caller, twin_id, utc(as_of, "as_of"))
    _etag(response, state.revision)
    return state


@router.get("/{twin_id}/state/history", summary="Every revision of the twin, newest first")
async def state_history(
    twin_id: str,
    caller: Caller,
    svc: Twins,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: CursorQ = None,
    limit: LimitQ = 50,
) -> Page[TwinState]:
    items, next_cursor = await svc.history(caller, twin_id, utc(since, "since"), utc(until, "until"), cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.put("/{twin_id}/state/{kind}", summary="Replace the reported or desired state")
async def put_state(twin_id: str, kind: StateKind, doc: StateDoc, response: Response, caller: Caller, svc: Twins,
                    if_match: IfMatch = None) -> TwinState:
    state = await svc.set_state(caller, twin_id, kind, doc, False, if_match)
    _etag(response, state.revision)
    return state


@router.patch("/{twin_id}/state/{kind}", summary="Merge-patch the reported or desired state (RFC 7396)",
              openapi_extra=MERGE_PATCH)
async def patch_state(twin_id: str, kind: StateKind, doc: StateDoc, response: Response, caller: Caller, svc: Twins,
                      if_match: IfMatch = None) -> TwinState:
    state = await svc.set_state(caller, twin_id, kind, doc, True, if_match)
    _etag(response, state.revision)
    return state
