"""Runs of workflows, their live progress, outputs, logs, provenance and verification; components."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from dte.adapters.compute.cluster import ComputeUnavailable
from dte.api.deps import Caller, Runtime, RuntimeDep, Session, Twins
from dte.api.params import CursorQ, LimitQ
from dte.domain.common import Page
from dte.domain.events import EventType
from dte.domain.runs import Run, RunStart, RunStatus, StepLogs, TriggerInfo, Verification
from dte.domain.workflows import ComponentSpec
from dte.services.components import installed
from dte.services.runs import RunService, read_progress
from dte.services.triggers import twin_triggers

router = APIRouter(prefix="/api/v1", tags=["runs"])


def _engine(rt: Runtime) -> Any:
    if rt.runs is None:
        raise ComputeUnavailable("the engine's run executor is not running")
    return rt.runs


def run_service(db: Session, rt: RuntimeDep, twins: Twins) -> RunService:
    engine = _engine(rt)
    return RunService(db, twins, rt.objects, engine.signer, engine.executor, rt.settings.effective_objects_url,
                      rt.settings.inline_value_bytes)


Runs = Annotated[RunService, Depends(run_service)]


@router.post("/runs", status_code=202, summary="Start a workflow on a twin", tags=["runs"])
async def start_run(body: RunStart, response: Response, caller: Caller, svc: Runs) -> Run:
    run = await svc.start(caller, body)
    response.headers["Location"] = f"/api/v1/runs/{run.id}"
    return run


@router.get("/runs", summary="Runs you can see, newest first")
async def list_runs(caller: Caller, svc: Runs, project: str | None = None, twin: str | None = None,
                    status: RunStatus | None = None, workflow: str | None = None, cursor: CursorQ = None,
                    limit: LimitQ = 50) -> Page[Run]:
    items, next_cursor = await svc.list(caller, project, twin, status, workflow, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/runs/{run_id}", summary="One run with its steps")
async def get_run(run_id: str, caller: Caller, svc: Runs) -> Run:
    return await svc.get(caller, run_id)


@router.post("/runs/{run_id}/cancel", summary="Cancel a queued or running run")
async def cancel_run(run_id: str, caller: Caller, svc: Runs) -> Run:
    return await svc.cancel(caller, run_id)


@router.get("/runs/{run_id}/logs", summary="Captured output of each step (or one: ?step=NAME)")
async def run_logs(run_id: str, caller: Caller, svc: Runs, step: str | None = None) -> list[StepLogs]:
    return await svc.logs(caller, run_id, step)


@router.get("/runs/{run_id}/outputs/{name}", summary="A workflow output (or STEP.PORT): JSON or artifact bytes",
            response_class=Response, responses={200: {"content": {"application/json": {}, "application/octet-stream": {}}}})
async def run_output(run_id: str, name: str, caller: Caller, svc: Runs) -> Response:
    data, media_type = await svc.output(caller, run_id, name)
    return Response(content=data, media_type=media_type)


@router.get("/runs/{run_id}/provenance", summary="The run as W3C PROV-JSON")
async def run_provenance(run_id: str, caller: Caller, svc: Runs) -> dict[str, Any]:
    return await svc.provenance(caller, run_id)


@router.get("/runs/{run_id}/verify", summary="Check the signed run manifest against records and artifacts")
async def verify_run(run_id: str, caller: Caller, svc: Runs) -> Verification:
    return await svc.verify(caller, run_id)


@router.get("/runs/{run_id}/progress", summary="Live progress (Server-Sent Events) until the run finishes",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def run_progress(run_id: str, request: Request, caller: Caller, svc: Runs, rt: RuntimeDep) -> StreamingResponse:
    first = await svc.progress(caller, run_id)  # access checked here, before the stream opens
    subscription = rt.events.subscribe([EventType.RUN_PROGRESS], where=lambda e: e.data.get("run") == run_id,
                                       capacity=1000)

    async def stream() -> AsyncIterator[bytes]:
        with subscription:
            last = None
            current = first
            while True:
                if current != last:
                    yield f"event: progress\ndata: {current.model_dump_json()}\n\n".encode()
                    last = current
                if current.status.finished or await request.is_disconnected():
                    return
                try:  # an event wakes us at once; the poll covers runs executed by another engine
                    await asyncio.wait_for(subscription.get(), timeout=1.0)
                except TimeoutError:
                    pass
                async with rt.sessions() as session:
                    current = await read_progress(session, run_id)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/twins/{twin_id}/triggers", summary="The triggers of a twin's application and their state",
            tags=["runs"])
async def list_triggers(twin_id: str, caller: Caller, db: Session, twins: Twins) -> list[TriggerInfo]:
    row, _, manifest, _ = await twins.locate(caller, twin_id)
    return await twin_triggers(db, caller, row, manifest)


@router.get("/components", summary="Components of the installed thematic modules", tags=["components"])
async def list_components(caller: Caller, db: Session) -> list[ComponentSpec]:
    del caller  # any authenticated caller: signatures of installed software, no project data
    return sorted((await installed(db)).values(), key=lambda c: c.ref)


@router.post("/components/refresh", summary="Ask the compute workers which modules they have (platform admins)",
             tags=["components"])
async def refresh_components(caller: Caller, db: Session, rt: RuntimeDep) -> list[ComponentSpec]:
    from dte.services.components import replace_installed

    caller.require_platform_admin()
    specs = await _engine(rt).compute.describe_installed()
    await replace_installed(db, specs)
    return sorted(specs, key=lambda c: c.ref)
