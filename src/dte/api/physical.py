"""The engine's connection to physical twins: the parts that run in the background (ingest
writer, MQTT link, embedded broker, command expiry) and the dependencies the routes share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request

from dte.api import deps
from dte.api.deps import Runtime, Session
from dte.domain.devices import DEVICE_SECRET_PREFIX
from dte.domain.errors import Unauthenticated
from dte.services.devices import DeviceService
from dte.services.ingest import IngestWriter, Limits, Sender, ingest_writer


@dataclass
class Physical:
    """What the physical-twin routes share in one engine process (``app.state.physical``)."""

    writer: IngestWriter
    limits: Limits
    parts: dict[str, Any] = field(default_factory=dict)  # mqtt link, embedded broker, ...


@asynccontextmanager
async def running(app: FastAPI, rt: Runtime) -> AsyncIterator[Physical]:
    """Start the ingest writer, and the MQTT side when configured; stop them in reverse order."""
    s = rt.settings
    async with AsyncExitStack() as stack:
        writer = await stack.enter_async_context(
            ingest_writer(rt.sessions, rt.events, s.ingest_max_pending, s.ingest_max_batch, rt.metrics))
        physical = app.state.physical = Physical(
            writer, Limits(s.ingest_max_records, int(s.ingest_max_future_seconds * 1_000_000)))
        from dte.adapters.mqtt_link import mqtt_parts  # the MQTT libraries load only with the engine

        await mqtt_parts(stack, rt, physical)
        yield physical


def physical(request: Request) -> Physical:
    return request.app.state.physical


async def sender(
    request: Request,
    db: Session,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Sender:
    """A device (``Bearer dte_dev_...``) or any user credential the engine accepts."""
    scheme, _, credential = (authorization or "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential.startswith(DEVICE_SECRET_PREFIX):
        return Sender(device=await DeviceService(db).authenticate(credential))
    if not authorization:
        raise Unauthenticated("send 'Authorization: Bearer <device secret or token>'", code="missing_token")
    return Sender(user=await deps.principal(db=db, authorization=authorization, request=request))


PhysicalDep = Annotated[Physical, Depends(physical)]
SenderDep = Annotated[Sender, Depends(sender)]
