"""The engine's run executor: hands each run to the compute cluster as one graph, records step
results as they arrive (in batches), and finishes the run with its signed manifest.

Runs carry a lease that the executing engine renews; any engine fails runs whose lease expired
(their engine died), so no run stays ``running`` forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from distributed import Future, as_completed
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dte.adapters.compute.cluster import DaskCompute
from dte.adapters.compute.worker import StepFailed, StepTask
from dte.adapters.db.tables import ArtifactRow, RunRow, RunStepRow
from dte.adapters.db.types import utcnow
from dte.adapters.signing import Signer
from dte.domain.events import Event, EventType
from dte.domain.provenance import run_manifest
from dte.domain.runs import Run, RunStatus, RunTrigger, StepStatus, step_of
from dte.services.events import EventBus
from dte.services.runs import run_labels
from dte.services.uow import write

log = structlog.get_logger("dte.runs")
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
RECORD_INTERVAL = 0.1  # seconds between writes of step results while a run goes on


@dataclass
class Execution:
    run_id: str
    project_id: str
    steps_total: int = 0
    futures: dict[str, Future] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    cancelled_by: str | None = None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class RunExecutor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], compute: DaskCompute, signer: Signer,
                 events: EventBus, lease_seconds: float) -> None:
        self.sessions = sessions
        self.compute = compute
        self.signer = signer
        self.events = events
        self.lease_seconds = lease_seconds
        self.running: dict[str, Execution] = {}

    # --- lifecycle ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[RunExecutor]:
        """Run the lease keeper while the engine serves; on stop, fail what is still in flight."""
        await self.sweep_orphans()
        keeper = asyncio.create_task(self._keep_leases())
        try:
            yield self
        finally:
            keeper.cancel()
            for execution in list(self.running.values()):
                if execution.task is not None:
                    execution.task.cancel()
            for run_id in list(self.running):
                await self.settle(run_id, RunStatus.FAILED, "the engine stopped while the run was in flight")
            self.running.clear()

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self._renew()
                await self.sweep_orphans()
            except Exception:  # the database may be briefly away; try again next round
                log.exception("lease_keeping_failed")

    async def _renew(self) -> None:
        if not self.running:
            return
        async with self.sessions() as session, write(session):
            await session.execute(update(RunRow).where(RunRow.id.in_(list(self.running)),
                                                       RunRow.status.in_(ACTIVE))
                                  .values(lease_until=utcnow() + timedelta(seconds=self.lease_seconds)))
            settled = (await session.scalars(select(RunRow.id).where(
                RunRow.id.in_(list(self.running)), RunRow.status.not_in(ACTIVE)))).all()
        for run_id in settled:  # finished elsewhere (e.g. cancelled through another engine)
            await self.cancel(run_id)

    async def sweep_orphans(self) -> int:
        """Fail runs whose engine stopped renewing their lease."""
        async with self.sessions() as session:
            orphans = (await session.scalars(select(RunRow.id).where(
                RunRow.status.in_(ACTIVE), RunRow.lease_until < utcnow(),
                RunRow.id.not_in(list(self.running) or [""])))).all()
        for run_id in orphans:
            await self.settle(run_id, RunStatus.FAILED, "the engine running it stopped (its lease expired); "
                              "start the run again")
        return len(orphans)

    # --- running ------------------------------------------------------------------------------------

    def launch(self, run_id: str, project_id: str, tasks: list[StepTask], upstream: Mapping[str, list[str]],
               resources: Mapping[str, dict[str, float]], outputs: Mapping[str, tuple[str, str]]) -> None:
        execution = Execution(run_id=run_id, project_id=project_id, steps_total=len(tasks))
        self.running[run_id] = execution
        execution.task = asyncio.create_task(self._execute(execution, tasks, upstream, resources, outputs))

    async def wait(self, run_id: str) -> None:
        execution = self.running.get(run_id)
        if execution is not None and execution.task is not None:
            await asyncio.wait({execution.task})

    async def cancel(self, run_id: str, reason: str = "cancelled") -> bool:
        """Cancel a run this engine executes; ``False`` when it does not execute it."""
        execution = self.running.get(run_id)
        if execution is None:
            return False
        execution.cancelled_by = execution.cancelled_by or reason
        await self.compute.cancel(list(execution.futures.values()))
        return True

    async def _execute(self, execution: Execution, tasks: list[StepTask], upstream: Mapping[str, list[str]],
                       resources: Mapping[str, dict[str, float]], outputs: Mapping[str, tuple[str, str]]) -> None:
        run_id = execution.run_id
        try:
            wanted: dict[str, float] = {}
            for hints in resources.values():
                for name, amount in hints.items():
                    wanted[name] = max(wanted.get(name, 0.0), amount)
            missing = await self.compute.missing_resources(wanted)
            if missing:
                await self.settle(run_id, RunStatus.FAILED, f"no compute worker offers {missing}; a step asks for it")
                return
            execution.futures = await self.compute.submit(tasks, upstream, resources)
            # Not awaited before collecting: results must not wait for this write (it only ever moves a
            # queued run to running, so it cannot undo a later outcome).
            marking = asyncio.create_task(self._mark_running(run_id))
            await self._collect(execution)
            await marking
            status, error = await self._outcome(run_id, execution)
            await self.settle(run_id, status, error, outputs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run_failed", run_id=run_id)
            await self.settle(run_id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            self.running.pop(run_id, None)

    async def _mark_running(self, run_id: str) -> None:
        async with self.sessions() as session, write(session):
            await session.execute(update(RunRow).where(RunRow.id == run_id, RunRow.status == RunStatus.QUEUED)
                                  .values(status=RunStatus.RUNNING, started_at=utcnow()))

    async def _collect(self, execution: Execution) -> None:
        """Record step results as futures finish. Results that are ready together are fetched in one
        gather; records are written at most every ``RECORD_INTERVAL`` seconds (and at the end), one
        transaction for everything that finished meanwhile, so many short steps cost few writes."""
        names = {f.key: step for step, f in execution.futures.items()}
        client = await self.compute.ensure()
        loop = asyncio.get_running_loop()
        done = 0
        pending: list[dict[str, Any]] = []
        written = loop.time()
        results = as_completed(list(execution.futures.values()))
        following = aiter(results)
        while True:
            wait = max(0.0, written + RECORD_INTERVAL - loop.time()) if pending else None
            try:
                first = await asyncio.wait_for(anext(following), wait)
            except StopAsyncIteration:
                break
            except TimeoutError:  # nothing finished for a while: show what did
                first = None
            if first is not None:
                batch = [first, *results.next_batch(block=False)]
                finished = [f for f in batch if f.status == "finished"]
                envelopes = dict(zip([f.key for f in finished], await client.gather(finished), strict=True)) \
                    if finished else {}
                pending += [await self._result(names[f.key], f, execution, envelopes.get(f.key)) for f in batch]
            if pending and loop.time() - written >= RECORD_INTERVAL:
                done += len(pending)
                await self._record(execution, pending, done)
                pending, written = [], loop.time()
        if pending:
            await self._record(execution, pending, done + len(pending))

    async def _result(self, step: str, future: Future, execution: Execution,
                      envelope: dict[str, Any] | None) -> dict[str, Any]:
        base: dict[str, Any] = {"run_id": execution.run_id, "name": step}
        if envelope is not None:
            return {**base, "status": StepStatus.SUCCEEDED, "outputs": envelope["outputs"],
                    "inputs": envelope["inputs"], "attempts": envelope["attempts"], "cached": envelope["cached"],
                    "logs": envelope["logs"], "started_at": _time(envelope["started"]),
                    "finished_at": _time(envelope["finished"]), "worker": envelope["worker"]}
        if future.status == "cancelled":
            return {**base, "status": StepStatus.CANCELLED, "error": "cancelled"}
        try:
            await future
        except StepFailed as exc:
            if exc.step != step:
                return {**base, "status": StepStatus.SKIPPED, "error": f"upstream step {exc.step!r} failed"}
            return {**base, "status": StepStatus.FAILED, "error": exc.error, "logs": exc.logs,
                    "attempts": exc.attempts, "started_at": _time(exc.started), "finished_at": _time(exc.finished),
                    "worker": exc.worker}
        except asyncio.CancelledError:
            return {**base, "status": StepStatus.CANCELLED, "error": "cancelled"}
        except Exception as exc:  # e.g. KilledWorker: the step's worker died more often than allowed
            own = str(getattr(exc, "task", "")) == str(future.key)
            if not own and "KilledWorker" in type(exc).__name__:
                return {**base, "status": StepStatus.SKIPPED, "error": f"upstream failed: {exc}"}
            return {**base, "status": StepStatus.FAILED, "error": f"{type(exc).__name__}: {exc}"}
        return {**base, "status": StepStatus.FAILED, "error": "the step finished without a result"}

    async def _record(self, execution: Execution, updates: list[dict[str, Any]], done: int) -> None:
        artifacts = {p["sha256"]: p for u in updates for p in u.get("outputs", {}).values() if p.get("artifact")}
        async with self.sessions() as session:
            async with write(session):
                await session.execute(update(RunStepRow), updates)
                await session.execute(update(RunRow).where(RunRow.id == execution.run_id).values(steps_done=done))
                if artifacts:
                    known = set((await session.scalars(select(ArtifactRow.sha256).where(
                        ArtifactRow.sha256.in_(list(artifacts))))).all())
                    session.add_all(ArtifactRow(sha256=sha, size=p["size"], media_type=p["media_type"])
                                    for sha, p in artifacts.items() if sha not in known)
        self.events.publish(Event(type=EventType.RUN_PROGRESS, project_id=execution.project_id, data={
            "run": execution.run_id, "status": RunStatus.RUNNING.value, "steps_done": done,
            "steps_total": execution.steps_total}))

    async def _outcome(self, run_id: str, execution: Execution) -> tuple[RunStatus, str]:
        async with self.sessions() as session:
            steps = (await session.scalars(select(RunStepRow).where(RunStepRow.run_id == run_id)
                                           .order_by(RunStepRow.position))).all()
        failed = [s for s in steps if s.status == StepStatus.FAILED]
        if failed:
            first = failed[0]
            return RunStatus.FAILED, f"step {first.name!r} ({first.component}) failed: {first.error}"
        if execution.cancelled_by or any(s.status == StepStatus.CANCELLED for s in steps):
            return RunStatus.CANCELLED, execution.cancelled_by or "cancelled"
        return RunStatus.SUCCEEDED, ""

    # --- finishing ------------------------------------------------------------------------------------

    async def settle(self, run_id: str, status: RunStatus, error: str = "",
                     outputs: Mapping[str, tuple[str, str]] | None = None) -> None:
        """Finish a run that is still active: final status, outputs, signed manifest; steps that never
        ran are cancelled. A run that finished meanwhile is left as it is."""
        async with self.sessions() as session:
            async with write(session):
                run = await session.get(RunRow, run_id, with_for_update=True)
                if run is None or RunStatus(run.status).finished:
                    return
                now = utcnow()
                steps = (await session.scalars(select(RunStepRow).where(RunStepRow.run_id == run_id)
                                               .order_by(RunStepRow.position))).all()
                for step in steps:
                    if step.status == StepStatus.QUEUED:
                        step.status, step.error = StepStatus.CANCELLED, error or "the run ended before this step ran"
                by_name = {s.name: s for s in steps}
                run.outputs = {name: by_name[step].outputs[port] for name, (step, port) in (outputs or {}).items()
                               if port in by_name[step].outputs}
                run.status, run.error, run.finished_at = status, error, now
                run.started_at = run.started_at or now
                run.steps_done = sum(1 for s in steps if s.status != StepStatus.QUEUED)
                await session.flush()
                domain = Run(id=run.id, project=run.project_id, twin_id=run.twin_id, twin="", application="",
                             version="", workflow=run.workflow, definition_sha256=run.definition_sha256,
                             bundle_sha256=run.bundle_sha256, status=status,
                             trigger=RunTrigger.model_validate(run.trigger), inputs=run.inputs, outputs=run.outputs,
                             error=error, steps_total=run.steps_total, steps_done=run.steps_done,
                             created_by=run.created_by, created_at=run.created_at, started_at=run.started_at,
                             finished_at=now, signed=False, steps=[step_of(s) for s in steps])
                _, _, application, version = await run_labels(session, run.id)
                manifest = run_manifest(domain.model_copy(update={"application": application, "version": version}),
                                        run.engine_version)
                run.run_manifest, run.signature = manifest, self.signer.sign(manifest)
                project_id, workflow = run.project_id, run.workflow
                twin_id = run.twin_id
        log.info("run_finished", run_id=run_id, status=status.value, error=error or None)
        self.events.publish(
            Event(type=EventType.RUN_PROGRESS, project_id=project_id, twin_id=twin_id, data={
                "run": run_id, "status": status.value, "steps_done": domain.steps_done,
                "steps_total": domain.steps_total}),
            Event(type=EventType.RUN_FINISHED, project_id=project_id, twin_id=twin_id, data={
                "run": run_id, "workflow": workflow, "status": status.value}))


@dataclass
class RunEngine:
    """What the engine shares for running workflows."""

    compute: DaskCompute
    signer: Signer
    executor: RunExecutor
