"""SDK calls for the workflows of an application version: summaries, definitions, CWL export."""

from __future__ import annotations

from typing import TypeVar

from dte.client.calls import Call, model, raw
from dte.domain.definitions import WorkflowDefinition, WorkflowSummary

T = TypeVar("T")


def _base(application: str, version: str | None) -> str:
    return f"/api/v1/applications/{application}/versions/{version or 'latest'}/workflows"


def workflow_list(application: str, version: str | None = None) -> Call[list[WorkflowSummary]]:
    return Call("GET", _base(application, version), model(list[WorkflowSummary]))


def workflow_get(application: str, workflow: str, version: str | None = None) -> Call[WorkflowDefinition]:
    return Call("GET", f"{_base(application, version)}/{workflow}", model(WorkflowDefinition))


def workflow_cwl(application: str, workflow: str, version: str | None = None, fmt: str = "yaml") -> Call[bytes]:
    return Call("GET", f"{_base(application, version)}/{workflow}/cwl", raw, params={"format": fmt})


class WorkflowMixin:
    """The synchronous workflow-definition methods of :class:`~dte.client.Client`."""

    def send(self, call: Call[T]) -> T:  # provided by the client
        raise NotImplementedError

    def workflow_list(self, application: str, version: str | None = None) -> list[WorkflowSummary]:
        return self.send(workflow_list(application, version))

    def workflow_get(self, application: str, workflow: str, version: str | None = None) -> WorkflowDefinition:
        return self.send(workflow_get(application, workflow, version))

    def workflow_cwl(self, application: str, workflow: str, version: str | None = None, fmt: str = "yaml") -> str:
        """The workflow as a CWL v1.2 document (YAML or JSON text)."""
        return self.send(workflow_cwl(application, workflow, version, fmt)).decode()
