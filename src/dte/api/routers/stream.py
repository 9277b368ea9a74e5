"""Live streams of a twin: Server-Sent Events and a WebSocket, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from dte.api.deps import Caller, RuntimeDep, Session
from dte.services.history import HistoryService
from dte.services.stream import FeedItem, Position, current_position, feed

router = APIRouter(prefix="/api/v1/twins/{twin_id}", tags=["physical twin"])
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=100,
                                           description="resume after this event id")]
LastEventQ = Annotated[str | None, Query(max_length=100, description="resume after this event id "
                                                                       "(for clients that cannot set headers)")]


async def _start(db: Session, caller: Caller, twin_id: str, last: str | None) -> tuple[Position, object]:
    twin = await HistoryService(db).twin(caller, twin_id)
    start = Position.parse(last) if last else await current_position(db, twin_id)
    await db.close()  # a stream lives long: hold no connection while it waits
    return start, twin.manifest


@router.get("/stream", summary="Live observations and state changes (Server-Sent Events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "events 'observation' and 'state'; ids resume with Last-Event-ID"}})
async def stream(twin_id: str, caller: Caller, db: Session, rt: RuntimeDep, last_event_id: LastEventId = None,
                 after: LastEventQ = None) -> StreamingResponse:
    start, manifest = await _start(db, caller, twin_id, last_event_id or after)

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for item in feed(rt.sessions, rt.events, twin_id, manifest, start):  # type: ignore[arg-type]
            yield b": keep-alive\n\n" if item is None else _sse(item)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(item: FeedItem) -> bytes:
    return f"id: {item.id}\nevent: {item.event}\ndata: {json.dumps(item.data, separators=(',', ':'))}\n\n".encode()


@router.websocket("/ws")
async def websocket(websocket: WebSocket, twin_id: str, caller: Caller, db: Session, rt: RuntimeDep,
                    after: LastEventQ = None) -> None:
    """The same feed as ``/stream`` as JSON messages ``{"id", "event", "data"}``."""
    start, manifest = await _start(db, caller, twin_id, after)
    await websocket.accept()
    try:
        async for item in feed(rt.sessions, rt.events, twin_id, manifest, start):  # type: ignore[arg-type]
            message = {"event": "keep-alive"} if item is None else {"id": item.id, "event": item.event,
                                                                   "data": item.data}
            await websocket.send_json(message)
    except WebSocketDisconnect:
        return
