"""Runs: one execution of a workflow on a twin, its steps, and what makes it verifiable later."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from dte.domain.common import Input, Resource
from dte.domain.manifest import Name


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    QUEUED = "queued"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # an upstream step failed
    CANCELLED = "cancelled"


class TriggerKind(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    EVENT = "event"


class RunStart(Input):
    twin: str = Field(min_length=1, max_length=200, description="twin id, or PROJECT/NAME")
    workflow: Name
    inputs: dict[str, Any] = Field(default_factory=dict, description="values of the workflow's declared inputs")


class RunTrigger(BaseModel):
    kind: TriggerKind = TriggerKind.MANUAL
    name: str | None = None  # the manifest's trigger name
    context: dict[str, Any] = Field(default_factory=dict, description="e.g. the event that fired it")


class Step(Resource):
    name: str
    component: str
    component_version: str
    status: StepStatus
    attempts: int
    cached: bool
    inputs: dict[str, str] = Field(description="input -> sha256 of the value it got")
    outputs: dict[str, Any] = Field(description="output -> {sha256, size, media_type, value | artifact}")
    error: str
    worker: str
    started_at: datetime | None
    finished_at: datetime | None


def step_of(row: Any) -> Step:
    """A step record as a :class:`Step`, without re-validating what the engine itself wrote (this is on
    the path of every finished run, with up to thousands of steps)."""
    fields = {name: getattr(row, name) for name in Step.model_fields}
    fields["status"] = StepStatus(fields["status"])
    return Step.model_construct(**fields)


class Run(Resource):
    id: str
    project: str
    twin_id: str
    twin: str
    application: str
    version: str
    workflow: str
    definition_sha256: str
    bundle_sha256: str
    status: RunStatus
    trigger: RunTrigger
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str
    steps_total: int
    steps_done: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    signed: bool
    steps: list[Step] | None = Field(default=None, description="with GET /runs/{id}")


class RunProgress(BaseModel):
    """One message of the live progress stream."""

    run_id: str
    status: RunStatus
    steps_done: int
    steps_total: int
    failed: list[str] = Field(default_factory=list)
    error: str = ""


class StepLogs(BaseModel):
    step: str
    status: StepStatus
    attempts: int
    logs: str
    error: str


class Verification(BaseModel):
    run_id: str
    valid: bool
    signature_valid: bool
    records_match: bool
    artifacts_intact: bool
    key_id: str | None
    problems: list[str]
    manifest: dict[str, Any] | None


class TriggerInfo(BaseModel):
    """A trigger of a twin's application, with where it stands on this twin."""

    name: str
    workflow: str
    description: str
    kind: TriggerKind
    schedule: dict[str, Any] | None
    event: dict[str, Any] | None
    active: bool = Field(description="triggers fire only on active twins")
    next_due_at: datetime | None
    pending: int = Field(description="events counted towards the next run")
    last_fired_at: datetime | None
    last_run_id: str | None
    last_error: str
