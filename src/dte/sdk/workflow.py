"""Build workflows in Python instead of YAML: the same :class:`~dte.domain.workflows.WorkflowSpec`.

    from dte.sdk import Workflow

    flow = Workflow("forecast", description="smoothed level, then the flood risk")
    hours = flow.input("horizon", int, default=6)
    smooth = flow.step("smooth", "core.mean", values=flow.state("/reported/levels/value"))
    risk = flow.step("risk", flood_risk, level=smooth, alarm=flow.param("alarm_level"), hours=hours, retries=3)
    flow.output("risk", risk)
    save(app_dir, flow)   # written into dte-app.yaml's workflows (checked like any manifest)

A step's component is a reference (``"core.mean"``) or an ``@component`` function of the application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dte.domain.manifest import MANIFEST_FILE, load_manifest_text
from dte.domain.workflows import DEFAULT_OUTPUT, ExecutionPolicy, Port, StepSpec, WorkflowSpec
from dte.sdk.component import meta_of, schema_of


@dataclass(frozen=True)
class Ref:
    """A source of a step input: another step's output, a twin parameter, state or a workflow input."""

    source: dict[str, Any]

    def __getitem__(self, port: str) -> Ref:
        """``step["low"]``: another output of a step with several."""
        if "step" not in self.source:
            raise TypeError("only a step's reference names an output port")
        return Ref({"step": f"{self.source['step'].split('.')[0]}.{port}"})


class Workflow:
    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._inputs: dict[str, Port] = {}
        self._steps: dict[str, StepSpec] = {}
        self._outputs: dict[str, str] = {}

    def input(self, name: str, kind: Any = Any, default: Any = None, description: str = "") -> Ref:
        """A workflow input (what a run or a trigger may give), typed by a Python type."""
        self._inputs[name] = Port(schema=schema_of(kind), required=default is None, default=default,
                                  description=description)
        return Ref({"input": name})

    @staticmethod
    def param(name: str) -> Ref:
        return Ref({"param": name})

    @staticmethod
    def state(pointer: str) -> Ref:
        return Ref({"state": pointer})

    def step(self, name: str, component: str | Callable[..., Any], **inputs: Any) -> Ref:
        """Add a step; keyword arguments are its inputs (a :class:`Ref` or a literal), plus the
        execution policy keys ``retries``, ``backoff``, ``timeout``, ``cache``, ``resources``."""
        if name in self._steps:
            raise ValueError(f"the workflow already has a step {name!r}")
        policy = {k: inputs.pop(k) for k in list(inputs) if k in ExecutionPolicy.model_fields}
        wiring = {port: value.source if isinstance(value, Ref) else _literal(value) for port, value in inputs.items()}
        self._steps[name] = StepSpec.model_validate({"component": _reference(component), "in": wiring, **policy})
        return Ref({"step": name})

    def output(self, name: str, ref: Ref) -> None:
        if "step" not in ref.source:
            raise TypeError("a workflow output is a step's output")
        self._outputs[name] = ref.source["step"].removesuffix(f".{DEFAULT_OUTPUT}")

    def spec(self) -> WorkflowSpec:
        return WorkflowSpec.model_validate({"description": self.description, "steps": self._steps,
                                            "inputs": self._inputs, "outputs": self._outputs})

    def document(self) -> dict[str, Any]:
        """The workflow as it stands in ``dte-app.yaml``."""
        return self.spec().model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def _reference(component: str | Callable[..., Any]) -> str:
    if isinstance(component, str):
        return component
    meta = meta_of(component)
    if meta is None:
        raise TypeError(f"{component!r} is not an @component function")
    return meta.name or component.__name__


def _literal(value: Any) -> Any:
    """Literal mappings are wrapped so they are not read as a source (``{"step": ...}``)."""
    return {"value": value} if isinstance(value, dict) else value


def save(directory: Path | str, *workflows: Workflow) -> Path:
    """Write workflows into the application's ``dte-app.yaml`` (replacing those of the same name),
    checked exactly as publishing checks them (:func:`dte.sdk.check_app`); if the check fails, the file
    is left as it was and the error raised. YAML comments of the file are not kept."""
    from dte.sdk.testing import check_app

    path = Path(directory) / MANIFEST_FILE
    before = path.read_text()
    document = yaml.safe_load(before)
    document.setdefault("workflows", {})
    for flow in workflows:
        document["workflows"][flow.name] = flow.document()
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    load_manifest_text(text)
    path.write_text(text)
    try:
        check_app(directory)
    except Exception:
        path.write_text(before)
        raise
    return path
