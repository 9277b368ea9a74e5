"""SDK calls for runs of workflows and the component registry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from dte.client.calls import Call, check, model, raw
from dte.domain.common import Page
from dte.domain.runs import Run, RunProgress, StepLogs, TriggerInfo, Verification
from dte.domain.workflows import ComponentSpec


def run_start(twin: str, workflow: str, inputs: dict[str, Any] | None = None) -> Call[Run]:
    return Call("POST", "/api/v1/runs", model(Run), json={"twin": twin, "workflow": workflow, "inputs": inputs or {}})


def run_list(project: str | None = None, twin: str | None = None, status: str | None = None,
             workflow: str | None = None, cursor: str | None = None, limit: int = 50) -> Call[Page[Run]]:
    return Call("GET", "/api/v1/runs", model(Page[Run]), params={"project": project, "twin": twin, "status": status,
                                                                 "workflow": workflow, "cursor": cursor, "limit": limit})


def run_get(run_id: str) -> Call[Run]:
    return Call("GET", f"/api/v1/runs/{run_id}", model(Run))


def run_cancel(run_id: str) -> Call[Run]:
    return Call("POST", f"/api/v1/runs/{run_id}/cancel", model(Run))


def run_logs(run_id: str, step: str | None = None) -> Call[list[StepLogs]]:
    return Call("GET", f"/api/v1/runs/{run_id}/logs", model(list[StepLogs]), params={"step": step})


def run_output(run_id: str, name: str) -> Call[bytes]:
    return Call("GET", f"/api/v1/runs/{run_id}/outputs/{name}", raw)


def run_provenance(run_id: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/api/v1/runs/{run_id}/provenance", model(dict[str, Any]))


def run_verify(run_id: str) -> Call[Verification]:
    return Call("GET", f"/api/v1/runs/{run_id}/verify", model(Verification))


def twin_triggers(twin_id: str) -> Call[list[TriggerInfo]]:
    return Call("GET", f"/api/v1/twins/{twin_id}/triggers", model(list[TriggerInfo]))


def component_list() -> Call[list[ComponentSpec]]:
    return Call("GET", "/api/v1/components", model(list[ComponentSpec]))


def component_refresh() -> Call[list[ComponentSpec]]:
    return Call("POST", "/api/v1/components/refresh", model(list[ComponentSpec]))


def parse_sse(lines: Iterator[str]) -> Iterator[RunProgress]:
    """``data:`` lines of a Server-Sent Events stream of run progress."""
    for line in lines:
        if line.startswith("data:"):
            yield RunProgress.model_validate(json.loads(line[5:]))


class RunsMixin:
    """Runs of workflows (mixed into :class:`dte.client.Client`)."""

    http: httpx.Client

    def send(self, call: Call[Any]) -> Any:  # provided by Client
        raise NotImplementedError

    def run_start(self, twin: str, workflow: str, inputs: dict[str, Any] | None = None) -> Run:
        """Start ``workflow`` on a twin (id or PROJECT/NAME); returns the queued run."""
        return self.send(run_start(twin, workflow, inputs))

    def run_list(self, project: str | None = None, twin: str | None = None, status: str | None = None,
                 workflow: str | None = None, cursor: str | None = None, limit: int = 50) -> Page[Run]:
        return self.send(run_list(project, twin, status, workflow, cursor, limit))

    def run_get(self, run_id: str) -> Run:
        return self.send(run_get(run_id))

    def run_cancel(self, run_id: str) -> Run:
        return self.send(run_cancel(run_id))

    def run_logs(self, run_id: str, step: str | None = None) -> list[StepLogs]:
        return self.send(run_logs(run_id, step))

    def run_output(self, run_id: str, name: str) -> Any:
        """A JSON output as a value (artifacts of other types: :meth:`run_output_bytes`)."""
        return json.loads(self.send(run_output(run_id, name)))

    def run_output_bytes(self, run_id: str, name: str) -> bytes:
        return self.send(run_output(run_id, name))

    def run_provenance(self, run_id: str) -> dict[str, Any]:
        return self.send(run_provenance(run_id))

    def run_verify(self, run_id: str) -> Verification:
        return self.send(run_verify(run_id))

    def run_progress(self, run_id: str) -> Iterator[RunProgress]:
        """Live progress until the run finishes (Server-Sent Events)."""
        with self.http.stream("GET", f"/api/v1/runs/{run_id}/progress", timeout=None) as response:
            if not response.is_success:
                response.read()
                check(response)
            yield from parse_sse(response.iter_lines())

    def run_wait(self, run_id: str, timeout: float = 600.0, poll: float = 0.2) -> Run:
        """The run once it finished (polls; ``TimeoutError`` after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run_get(run_id)
            if run.status.finished:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {run.status} after {timeout:g} s")
            time.sleep(poll)

    def twin_triggers(self, twin_id: str) -> list[TriggerInfo]:
        return self.send(twin_triggers(twin_id))

    def component_list(self) -> list[ComponentSpec]:
        return self.send(component_list())

    def component_refresh(self) -> list[ComponentSpec]:
        return self.send(component_refresh())
