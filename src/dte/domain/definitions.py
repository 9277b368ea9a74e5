"""What the API says about an application version's workflows: summaries and compiled definitions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dte.domain.workflows import CompiledWorkflow, Port


class StepSummary(BaseModel):
    name: str
    component: str
    component_version: str
    upstream: list[str] = Field(description="steps whose outputs this step reads")


class WorkflowSummary(BaseModel):
    """One workflow of a version, compiled against the components installed now."""

    application: str
    version: str
    name: str
    description: str = ""
    sha256: str = Field(description="sha256 of the compiled definition: what a run of it records")
    inputs: dict[str, Port]
    outputs: dict[str, str] = Field(description="name -> STEP.PORT")
    steps: list[StepSummary] = Field(description="in execution order")

    @classmethod
    def of(cls, workflow: CompiledWorkflow, description: str) -> WorkflowSummary:
        return cls(application=workflow.application, version=workflow.version, name=workflow.name,
                   description=description, sha256=workflow.sha256, inputs=workflow.inputs,
                   outputs={k: f"{s}.{p}" for k, (s, p) in workflow.outputs.items()},
                   steps=[StepSummary(name=s.name, component=s.component.ref, component_version=s.component.version,
                                      upstream=s.upstream) for s in workflow.steps])


class WorkflowDefinition(BaseModel):
    """The compiled, hashed document of a workflow (``sha256`` is taken over ``definition``)."""

    sha256: str
    definition: dict[str, Any]
