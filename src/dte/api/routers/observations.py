"""Devices of a twin, observation ingest over HTTP, the observation history, and commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse

from dte.api.deps import Caller, Session, utc
from dte.api.params import CursorQ, LimitQ
from dte.api.physical import PhysicalDep, SenderDep
from dte.api.problems import problem
from dte.domain.common import Page
from dte.domain.devices import Command, CommandAck, CommandCreate, CommandStatus, Device, DeviceCreate, DeviceSecret
from dte.domain.errors import FieldError, InvalidInput
from dte.domain.observations import Bucket, IngestResult, Observation
from dte.services.commands import CommandService
from dte.services.devices import DeviceService
from dte.services.history import ExportFormat, HistoryService
from dte.services.ingest import Backpressure, prepare

router = APIRouter(prefix="/api/v1/twins/{twin_id}", tags=["physical twin"])
ChannelQ = Annotated[str | None, Query(max_length=63, description="one channel; default: all")]
SinceQ = Annotated[datetime | None, Query(description="from this time (inclusive); no zone means UTC")]
UntilQ = Annotated[datetime | None, Query(description="until this time (exclusive)")]
SENML_BODY = {"requestBody": {"content": {
    "application/json": {"schema": {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]}},
    "application/senml+json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}


@router.post("/devices", status_code=201, summary="Register a device of the twin; its secret is shown once")
async def create_device(twin_id: str, body: DeviceCreate, caller: Caller, db: Session) -> DeviceSecret:
    return await DeviceService(db).create(caller, twin_id, body)


@router.get("/devices", summary="The twin's devices")
async def list_devices(twin_id: str, caller: Caller, db: Session) -> list[Device]:
    return await DeviceService(db).list(caller, twin_id)


@router.get("/devices/{name}", summary="One device")
async def get_device(twin_id: str, name: str, caller: Caller, db: Session) -> Device:
    return await DeviceService(db).get(caller, twin_id, name)


@router.delete("/devices/{name}", summary="Revoke a device's credential (the record stays)")
async def revoke_device(twin_id: str, name: str, caller: Caller, db: Session) -> Device:
    return await DeviceService(db).revoke(caller, twin_id, name)


@router.post("/observations", status_code=202, openapi_extra=SENML_BODY,
             summary="Submit observations: a SenML pack or {\"t\", \"v\"} records; answered once durable",
             responses={429: {"description": "the engine is busy; retry after Retry-After seconds"}})
async def post_observations(
    twin_id: str,
    document: Annotated[Any, Body(description="SenML array, one record, or {\"observations\": [...]}")],
    who: SenderDep,
    db: Session,
    physical: PhysicalDep,
    source: Annotated[str | None, Query(max_length=120, description="idempotency namespace of 'seq' "
                                        "under the sender's identity, e.g. a gateway's sensor")] = None,
) -> Any:
    batch = await prepare(db, who, twin_id, document, source, physical.limits)
    await db.close()  # the read is done; do not hold a connection while the write queues
    physical.writer.note_rejections(batch)
    if not batch.readings:
        raise InvalidInput("no observation in the message is valid", code="invalid_observations",
                           errors=batch.errors)
    try:
        result = await physical.writer.submit(batch)
    except Backpressure as exc:
        return problem(429, exc.code, exc.detail, headers={"Retry-After": str(exc.retry_after)},
                       instance=f"/api/v1/twins/{twin_id}/observations")
    return JSONResponse(IngestResult.model_validate(result).model_dump(mode="json"), status_code=202)


@router.get("/observations", summary="Observations in a time range, oldest first")
async def list_observations(twin_id: str, caller: Caller, db: Session, channel: ChannelQ = None,
                            since: SinceQ = None, until: UntilQ = None, cursor: CursorQ = None,
                            limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Page[Observation]:
    items, next_cursor = await HistoryService(db).observations(
        caller, twin_id, channel, utc(since, "since"), utc(until, "until"), cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/observations/aggregate", summary="min, max, mean and count per channel and time bucket")
async def aggregate_observations(
    twin_id: str, caller: Caller, db: Session, channel: ChannelQ = None, since: SinceQ = None, until: UntilQ = None,
    bucket: Annotated[float, Query(gt=0, le=366 * 86_400, description="bucket width in seconds")] = 60,
) -> list[Bucket]:
    return await HistoryService(db).aggregate(caller, twin_id, channel, utc(since, "since"), utc(until, "until"),
                                              bucket)


@router.get("/observations/export", summary="Observations as CSV or Parquet",
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}})
async def export_observations(
    twin_id: str, caller: Caller, db: Session, channel: ChannelQ = None, since: SinceQ = None, until: UntilQ = None,
    format: ExportFormat = "csv", limit: Annotated[int, Query(ge=1, le=1_000_000)] = 1_000_000,
) -> Response:
    if format not in ("csv", "parquet"):
        raise InvalidInput("format is csv or parquet", errors=[FieldError("/format", "csv or parquet", "query")])
    data = await HistoryService(db).export(caller, twin_id, channel, utc(since, "since"), utc(until, "until"),
                                           format, limit)
    media = "text/csv" if format == "csv" else "application/vnd.apache.parquet"
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{twin_id}.{format}"'})


@router.post("/commands", status_code=201, summary="Send a command to the twin's devices (one per device)")
async def create_command(twin_id: str, body: CommandCreate, caller: Caller, db: Session) -> list[Command]:
    return await CommandService(db).create(caller, twin_id, body)


@router.get("/commands", summary="The twin's commands, newest first")
async def list_commands(twin_id: str, caller: Caller, db: Session, status: CommandStatus | None = None,
                        limit: LimitQ = 50) -> list[Command]:
    return await CommandService(db).list(caller, twin_id, status, limit)


@router.get("/commands/{command_id}", summary="One command and where it is in its lifecycle")
async def get_command(twin_id: str, command_id: str, caller: Caller, db: Session) -> Command:
    return await CommandService(db).get(caller, twin_id, command_id)


@router.post("/commands/{command_id}/ack", summary="A device reports a command delivered, applied or failed")
async def ack_command(twin_id: str, command_id: str, body: CommandAck, who: SenderDep, db: Session) -> Command:
    return await CommandService(db).ack(who.device, who.user, twin_id, command_id, body)
