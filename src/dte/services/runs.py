"""Runs: start a workflow on a twin, read its records, logs, outputs and provenance, cancel, verify.

:class:`RunService` is the per-request use case; :class:`~dte.services.executor.RunExecutor` is the
engine's background part that hands runs to the compute cluster and records what comes back.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dte import __version__
from dte.adapters.compute.worker import JSON_MEDIA, StepTask
from dte.adapters.db.tables import (
    ApplicationRow,
    ApplicationVersionRow,
    ProjectRow,
    RunRow,
    RunStepRow,
    TwinRow,
)
from dte.adapters.db.types import utcnow
from dte.adapters.signing import Signer
from dte.domain import runs as m
from dte.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from dte.domain.projects import Role, Scope
from dte.domain.provenance import prov_document, run_manifest
from dte.domain.twins import TwinStatus
from dte.domain.validation import schema_errors
from dte.domain.workflows import CompiledWorkflow, Source, compile_application, resolve_inputs, sha256_json
from dte.services.access import Principal
from dte.services.catalogue import manifest_of
from dte.services.components import installed, own_components
from dte.services.paging import page
from dte.services.ports import ObjectStore
from dte.services.projects import project_by_name
from dte.services.twins import TwinService
from dte.services.uow import write

if TYPE_CHECKING:
    from dte.services.executor import RunExecutor

_COMPILED: OrderedDict[tuple[str, str], CompiledWorkflow] = OrderedDict()


def _pointer(document: dict[str, Any], pointer: str) -> Any:
    """Resolve a JSON pointer; ``KeyError`` names what is missing."""
    node: Any = document
    for part in pointer.lstrip("/").split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise KeyError(pointer)
    return node


def step_literals(workflow: CompiledWorkflow, inputs: dict[str, Any], parameters: dict[str, Any],
                  state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step input that is known when the run starts (all but other steps' outputs), checked
    against the component's schema. Errors name the step and port and say which twin value is missing."""
    literals: dict[str, dict[str, Any]] = {}
    errors: list[FieldError] = []
    for step in workflow.steps:
        values = literals[step.name] = {}
        for port, source in step.inputs.items():
            where = f"/steps/{step.name}/in/{port}"
            try:
                value = _source_value(source, inputs, parameters, state)
            except KeyError:
                errors.append(FieldError(where, _missing(source)))
                continue
            if source.kind == "step":
                continue
            problems = schema_errors(step.component.inputs[port].schema_, value, where)
            errors += [FieldError(p.pointer, f"{_describe_source(source)}: {p.detail}") for p in problems]
            values[port] = value
    if errors:
        raise InvalidInput("the run cannot start: some step inputs are missing or invalid", code="invalid_inputs",
                           errors=errors)
    return literals


def _source_value(source: Source, inputs: dict[str, Any], parameters: dict[str, Any], state: dict[str, Any]) -> Any:
    if source.kind == "value":
        return source.value
    if source.kind == "input":
        return inputs[source.ref]
    if source.kind == "param":
        return parameters[source.ref]
    if source.kind == "state":
        return _pointer(state, source.ref)
    return None


def _missing(source: Source) -> str:
    if source.kind == "param":
        return f"the twin has no value for parameter {source.ref!r}"
    if source.kind == "state":
        return f"the twin's state has no {source.ref} yet (has the physical twin reported it?)"
    return f"no value for {_describe_source(source)}"


def _describe_source(source: Source) -> str:
    return {"param": f"parameter {source.ref!r}", "state": f"state {source.ref}", "input": f"input {source.ref!r}",
            "value": "the literal value"}.get(source.kind, source.kind)


async def run_labels(session: AsyncSession, run_id: str) -> tuple[str, str, str, str]:
    """The run's twin, project, application and version names (the records hold ids)."""
    found = (await session.execute(
        select(TwinRow.name, ProjectRow.name, ApplicationRow.name, ApplicationVersionRow.version)
        .select_from(RunRow)
        .join(TwinRow, TwinRow.id == RunRow.twin_id)
        .join(ProjectRow, ProjectRow.id == RunRow.project_id)
        .join(ApplicationVersionRow, ApplicationVersionRow.id == RunRow.application_version_id)
        .join(ApplicationRow, ApplicationRow.id == ApplicationVersionRow.application_id)
        .where(RunRow.id == run_id))).one()
    return found[0], found[1], found[2], found[3]


async def read_progress(session: AsyncSession, run_id: str) -> m.RunProgress:
    """Where a run stands (no access check: callers check it first)."""
    row = await session.get(RunRow, run_id)
    assert row is not None
    failed = (await session.scalars(select(RunStepRow.name).where(
        RunStepRow.run_id == run_id, RunStepRow.status == m.StepStatus.FAILED))).all()
    return m.RunProgress(run_id=row.id, status=m.RunStatus(row.status), steps_done=row.steps_done,
                         steps_total=row.steps_total, failed=list(failed), error=row.error)


class RunService:
    def __init__(self, session: AsyncSession, twins: TwinService, objects: ObjectStore, signer: Signer,
                 executor: RunExecutor, objects_url: str, inline_limit: int) -> None:
        self.session = session
        self.twins = twins
        self.objects = objects
        self.signer = signer
        self.executor = executor
        self.objects_url = objects_url
        self.inline_limit = inline_limit

    async def compiled(self, version: ApplicationVersionRow, workflow: str) -> CompiledWorkflow:
        """The workflow compiled against the components installed now (cached per version and
        installed set: both are immutable for a given key)."""
        components = {**await installed(self.session), **own_components(version)}
        key = (version.id, sha256_json(sorted((r, c.version, c.entry) for r, c in components.items())) + workflow)
        cached = _COMPILED.get(key)
        if cached is None:
            manifest = manifest_of(version)
            if workflow not in manifest.workflows:
                raise NotFound(f"{manifest.name} {manifest.version} has no workflow {workflow!r}; it has: "
                               f"{', '.join(manifest.workflows) or 'none'}", code="workflow_not_found")
            cached = compile_application(manifest, components)[workflow]
            _COMPILED[key] = cached
            if len(_COMPILED) > 256:
                _COMPILED.popitem(last=False)
        return cached

    async def start(self, actor: Principal, body: m.RunStart, trigger: m.RunTrigger | None = None) -> m.Run:
        trigger = trigger or m.RunTrigger()
        async with write(self.session):
            twin, version, manifest, project = await self.twins.locate(actor, body.twin, Role.USER, Scope.WRITE)
            if twin.status == TwinStatus.RETIRED:
                raise Conflict("the twin is retired; it runs no more workflows", code="twin_retired")
            workflow = await self.compiled(version, body.workflow)
            inputs = resolve_inputs(workflow, body.inputs)
            literals = step_literals(workflow, inputs, twin.parameters,
                                     {"reported": twin.reported, "desired": twin.desired})
            now = utcnow()
            trigger.context.setdefault("twin_revision", twin.revision)
            run = RunRow(project_id=twin.project_id, twin_id=twin.id, application_version_id=version.id,
                         bundle_sha256=version.bundle_sha256, workflow=workflow.name,
                         definition_sha256=workflow.sha256, definition=workflow.definition(), inputs=inputs,
                         status=m.RunStatus.QUEUED, trigger=trigger.model_dump(mode="json"),
                         created_by=actor.username, engine_version=__version__, steps_total=len(workflow.steps),
                         steps_done=0, outputs={}, error="", created_at=now,
                         lease_until=now + timedelta(seconds=self.executor.lease_seconds))
            self.session.add(run)
            await self.session.flush()
            await self.session.execute(insert(RunStepRow), [  # one executemany, not one INSERT per step
                {"run_id": run.id, "name": s.name, "position": i, "component": s.component.ref,
                 "component_version": s.component.version, "status": m.StepStatus.QUEUED, "attempts": 0,
                 "cached": False, "inputs": {}, "outputs": {}, "logs": "", "error": "", "worker": ""}
                for i, s in enumerate(workflow.steps)])
        tasks = [StepTask(run_id=run.id, step=s.name,
                          component=s.component.model_dump(mode="json", by_alias=True, exclude_none=True),
                          bundle_sha256=version.bundle_sha256 if s.component.source == "application" else None,
                          objects_url=self.objects_url, literals=literals[s.name],
                          wiring={p: (src.ref, src.port) for p, src in s.inputs.items() if src.kind == "step"},
                          retries=s.retries, backoff=s.backoff, timeout=s.timeout, cache=s.cache,
                          inline_limit=self.inline_limit) for s in workflow.steps]
        self.executor.launch(run.id, run.project_id, tasks, {s.name: s.upstream for s in workflow.steps},
                             {s.name: s.resources.dask() for s in workflow.steps}, workflow.outputs)
        return await self._out(run, twin.name, project, manifest.name, manifest.version)

    # --- reading ---------------------------------------------------------------------------------------

    async def _run(self, actor: Principal, run_id: str, role: Role | None = None,
                   scope: Scope = Scope.READ) -> RunRow:
        row = await self.session.get(RunRow, run_id)
        hidden = f"run {run_id!r} does not exist"
        if row is None or not actor.can_see(row.project_id):
            raise NotFound(hidden, code="run_not_found")
        if role is not None:
            actor.require(row.project_id, role, scope, hidden, "run_not_found")
        return row

    async def _out(self, row: RunRow, twin: str | None = None, project: str | None = None,
                   application: str | None = None, version: str | None = None, with_steps: bool = False) -> m.Run:
        if twin is None or project is None or application is None or version is None:
            twin, project, application, version = await run_labels(self.session, row.id)
        steps = None
        if with_steps:
            steps = [m.step_of(s) for s in await self.session.scalars(
                select(RunStepRow).where(RunStepRow.run_id == row.id).order_by(RunStepRow.position))]
        return m.Run(id=row.id, project=project, twin_id=row.twin_id, twin=twin, application=application,
                     version=version, workflow=row.workflow, definition_sha256=row.definition_sha256,
                     bundle_sha256=row.bundle_sha256, status=m.RunStatus(row.status),
                     trigger=m.RunTrigger.model_validate(row.trigger), inputs=row.inputs, outputs=row.outputs,
                     error=row.error, steps_total=row.steps_total, steps_done=row.steps_done,
                     created_by=row.created_by, created_at=row.created_at, started_at=row.started_at,
                     finished_at=row.finished_at, signed=row.signature is not None, steps=steps)

    async def get(self, actor: Principal, run_id: str) -> m.Run:
        return await self._out(await self._run(actor, run_id), with_steps=True)

    async def list(self, actor: Principal, project: str | None, twin: str | None, status: m.RunStatus | None,
                   workflow: str | None, cursor: str | None, limit: int) -> tuple[list[m.Run], str | None]:
        stmt = select(RunRow)
        if project is not None:
            stmt = stmt.where(RunRow.project_id == (await project_by_name(self.session, actor, project)).id)
        if twin is not None:
            row, _, _, _ = await self.twins.locate(actor, twin)
            stmt = stmt.where(RunRow.twin_id == row.id)
        visible = actor.visible_projects()
        if visible is not None:
            stmt = stmt.where(RunRow.project_id.in_(visible))
        if status is not None:
            stmt = stmt.where(RunRow.status == status)
        if workflow is not None:
            stmt = stmt.where(RunRow.workflow == workflow)
        rows, next_cursor = await page(self.session, stmt, RunRow.id, cursor, limit, descending=True)
        return [await self._out(r) for r in rows], next_cursor

    async def logs(self, actor: Principal, run_id: str, step: str | None = None) -> list[m.StepLogs]:
        row = await self._run(actor, run_id)
        stmt = select(RunStepRow).where(RunStepRow.run_id == row.id).order_by(RunStepRow.position)
        if step is not None:
            stmt = stmt.where(RunStepRow.name == step)
        found = [m.StepLogs(step=s.name, status=m.StepStatus(s.status), attempts=s.attempts, logs=s.logs,
                            error=s.error) for s in await self.session.scalars(stmt)]
        if step is not None and not found:
            raise NotFound(f"run {run_id} has no step {step!r}", code="step_not_found")
        return found

    async def output(self, actor: Principal, run_id: str, name: str) -> tuple[bytes, str]:
        """A workflow output (or ``STEP.PORT``) as bytes and media type; artifacts come from the store."""
        row = await self._run(actor, run_id)
        packed = row.outputs.get(name)
        if packed is None and "." in name:
            step_name, _, port = name.partition(".")
            step = await self.session.get(RunStepRow, (row.id, step_name))
            packed = step.outputs.get(port) if step is not None else None
        if packed is None:
            raise NotFound(f"run {run_id} has no output {name!r}", code="output_not_found")
        if "value" in packed:
            return json.dumps(packed["value"]).encode(), JSON_MEDIA
        return await self.objects.get(packed["sha256"]), packed["media_type"]

    async def progress(self, actor: Principal, run_id: str) -> m.RunProgress:
        await self._run(actor, run_id)
        return await read_progress(self.session, run_id)

    # --- cancelling ------------------------------------------------------------------------------------

    async def cancel(self, actor: Principal, run_id: str) -> m.Run:
        async with write(self.session):
            row = await self._run(actor, run_id, Role.USER, Scope.WRITE)
            if m.RunStatus(row.status).finished:
                raise Conflict(f"the run already {row.status}", code="run_finished")
        reason = f"cancelled by {actor.username}"
        if not await self.executor.cancel(run_id, reason):  # not running in this engine: settle it here
            await self.executor.settle(run_id, m.RunStatus.CANCELLED, reason)
        else:
            await self.executor.wait(run_id)
        self.session.expire_all()
        return await self.get(actor, run_id)

    # --- integrity -------------------------------------------------------------------------------------

    async def provenance(self, actor: Principal, run_id: str) -> dict[str, Any]:
        return prov_document(await self.get(actor, run_id), __version__)

    async def verify(self, actor: Principal, run_id: str) -> m.Verification:
        """Recompute the run manifest from the records and the artifacts, compare it with the signed
        one, and check the signature: any modified record, value or artifact shows up."""
        row = await self._run(actor, run_id)
        run = await self._out(row, with_steps=True)
        problems: list[str] = []
        if row.run_manifest is None or row.signature is None:
            return m.Verification(run_id=run_id, valid=False, signature_valid=False, records_match=False,
                                  artifacts_intact=False, key_id=None, manifest=None,
                                  problems=[f"the run is {row.status} and has no signed manifest yet"])
        signature_valid = self.signer.verify(row.run_manifest, row.signature)
        if not signature_valid:
            problems.append(f"the signature does not match the stored manifest for key {self.signer.key_id}")
        current = run_manifest(run, row.engine_version)
        records_match = current == row.run_manifest
        if not records_match:
            problems += [f"record differs from the signed manifest at {path}" for path in _differences(
                row.run_manifest, current)]
        artifacts_intact = True
        assert run.steps is not None
        for step in run.steps:
            for port, packed in step.outputs.items():
                if not packed.get("artifact"):
                    continue
                try:
                    await self.objects.get(packed["sha256"])
                except Exception as exc:  # NotFound or IntegrityError: either way, not what was signed
                    artifacts_intact = False
                    problems.append(f"artifact of {step.name}.{port} ({packed['sha256'][:12]}...): {exc}")
        valid = signature_valid and records_match and artifacts_intact
        return m.Verification(run_id=run_id, valid=valid, signature_valid=signature_valid,
                              records_match=records_match, artifacts_intact=artifacts_intact,
                              key_id=self.signer.key_id, problems=problems, manifest=row.run_manifest)


def _differences(signed: Any, current: Any, path: str = "") -> list[str]:
    if isinstance(signed, dict) and isinstance(current, dict):
        found: list[str] = []
        for key in sorted(set(signed) | set(current)):
            found += _differences(signed.get(key), current.get(key), f"{path}/{key}")
        return found
    return [] if signed == current else [path or "/"]

