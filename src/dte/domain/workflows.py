"""Components and workflows as data: what a step calls, how steps are wired, and the checks that
run before anything reaches the compute cluster.

A component's signature is a :class:`ComponentSpec` (JSON Schema per port), made by the SDK from a
typed Python function on the developer's machine or on a worker - never by importing code in the
engine. A workflow (:class:`WorkflowSpec`, the ``workflows`` entries of ``dte-app.yaml``) is compiled
against those specs into a :class:`CompiledWorkflow` whose ``sha256`` names exactly what a run ran.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dte.domain.errors import FieldError, InvalidInput
from dte.domain.validation import schema_errors

if TYPE_CHECKING:
    from dte.domain.manifest import AppManifest

PORT_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
STEP_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
# A component reference: ``name`` (the application's own) or ``namespace.name`` (a thematic module's).
REF_PATTERN = r"^(?:[a-z][a-z0-9_]*\.)?[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
PortName = Annotated[str, Field(pattern=PORT_PATTERN)]
StepName = Annotated[str, Field(pattern=STEP_PATTERN, max_length=63)]
DEFAULT_OUTPUT = "result"
SOURCES = ("step", "param", "state", "input", "value")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def canonical_json(value: Any) -> bytes:
    """The one serialisation that hashes are taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


class Resources(_Strict):
    """Resource hints; they map to Dask worker resources (``CPU``, ``MEMORY``, ``GPU``)."""

    cpu: float | None = Field(default=None, gt=0, le=1024)
    memory: int | None = Field(default=None, gt=0, description="bytes")
    gpu: int | None = Field(default=None, ge=0, le=64)

    def dask(self) -> dict[str, float]:
        hints = {"CPU": self.cpu, "MEMORY": self.memory, "GPU": self.gpu}
        return {name: float(value) for name, value in hints.items() if value}


class Port(_Strict):
    """One input or output of a component, or an input of a workflow: a JSON Schema and a default."""

    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema", description="JSON Schema ({} is any value)")
    required: bool = True
    default: Any = None
    kind: Literal["input", "parameter"] = "input"
    description: str = ""

    def model_dump_spec(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_defaults=True)


class ExecutionPolicy(_Strict):
    """How a step runs: retries with exponential backoff, a timeout, caching, resources."""

    retries: int | None = Field(default=None, ge=0, le=20)
    backoff: float | None = Field(default=None, ge=0, le=3600, description="seconds before the first retry; doubles")
    timeout: float | None = Field(default=None, gt=0, le=7 * 24 * 3600, description="seconds per attempt")
    cache: bool | None = None
    resources: Resources | None = None


class ComponentSpec(ExecutionPolicy):
    """A typed callable that a step can call. ``entry`` is ``module:function`` inside its package."""

    ref: Annotated[str, Field(pattern=REF_PATTERN, max_length=127)]
    version: str = Field(min_length=1, max_length=100)
    entry: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    description: str = ""
    inputs: dict[PortName, Port] = Field(default_factory=dict)
    outputs: dict[PortName, Port] = Field(default_factory=dict)
    source: str = Field(default="", description="where it comes from: 'application' or 'module:<distribution>'")
    tool: str | None = Field(default=None, description="a CWL CommandLineTool's path inside the bundle (imported tools)")

    @property
    def namespace(self) -> str | None:
        return self.ref.split(".", 1)[0] if "." in self.ref else None


class ComponentIndex(_Strict):
    """``dte-components.json`` in an application bundle: the signatures of the application's own
    components, written by the SDK when the bundle is built."""

    format: Literal[1] = 1
    components: list[ComponentSpec] = Field(default_factory=list)

    @field_validator("components")
    @classmethod
    def _unique(cls, value: list[ComponentSpec]) -> list[ComponentSpec]:
        refs = [c.ref for c in value]
        duplicate = next((r for r in refs if refs.count(r) > 1), None)
        if duplicate:
            raise ValueError(f"component {duplicate!r} appears twice")
        if any(c.namespace for c in value):
            raise ValueError("an application's own components have plain names (no 'namespace.')")
        return value


class StepSpec(ExecutionPolicy):
    """One step: a component call with its inputs wired (``in``)."""

    component: Annotated[str, Field(pattern=REF_PATTERN, max_length=127)]
    in_: dict[PortName, Any] = Field(default_factory=dict, alias="in", description=(
        "input -> source: {step: NAME[.PORT]}, {param: NAME}, {state: /reported/...}, {input: NAME}, "
        "{value: ANY}, or a plain literal"))
    description: str = ""


class WorkflowSpec(_Strict):
    """A named DAG of steps declared in ``dte-app.yaml`` (``workflows: {name: ...}``)."""

    description: str = ""
    inputs: dict[PortName, Port] = Field(default_factory=dict, description="what a run may be given")
    steps: dict[StepName, StepSpec] = Field(min_length=1, max_length=10_000)
    outputs: dict[PortName, str] = Field(default_factory=dict, description="name -> 'step.port' (or 'step')")


class Source(BaseModel):
    """A parsed input source."""

    kind: Literal["step", "param", "state", "input", "value"]
    ref: str = ""  # step name, parameter name, state pointer or input name
    port: str = DEFAULT_OUTPUT  # for steps
    value: Any = None  # for literals

    def to_spec(self) -> Any:
        if self.kind == "value":
            return {"value": self.value}
        if self.kind == "step":
            return {"step": f"{self.ref}.{self.port}"}
        return {self.kind: self.ref}


def parse_source(raw: Any) -> Source:
    """``{step: a.out}`` and friends are references; ``{value: x}`` or any other value is a literal."""
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, target), = raw.items()
        if kind == "value":
            return Source(kind="value", value=target)
        if kind in SOURCES:
            if not isinstance(target, str) or not target:
                raise ValueError(f"{kind!r} needs a non-empty string")
            if kind == "step":
                step, _, port = target.partition(".")
                return Source(kind="step", ref=step, port=port or DEFAULT_OUTPUT)
            if kind == "state" and not target.startswith(("/reported", "/desired")):
                raise ValueError("a state source is a JSON pointer into /reported or /desired, e.g. /reported/temperature")
            return Source(kind=kind, ref=target)
    return Source(kind="value", value=raw)


class CompiledStep(BaseModel):
    name: str
    component: ComponentSpec
    inputs: dict[str, Source]
    upstream: list[str]
    retries: int
    backoff: float
    timeout: float | None
    cache: bool
    resources: Resources


class CompiledWorkflow(BaseModel):
    """A validated workflow with its steps in execution order; ``sha256`` identifies it exactly."""

    application: str
    version: str
    name: str
    inputs: dict[str, Port]
    steps: list[CompiledStep]
    outputs: dict[str, tuple[str, str]]
    sha256: str

    def step(self, name: str) -> CompiledStep:
        return next(s for s in self.steps if s.name == name)

    def definition(self) -> dict[str, Any]:
        """The hashed document: the workflow and the exact component specs it calls."""
        return _definition(self.application, self.version, self.name, self.inputs, self.steps, self.outputs)


def _definition(application: str, version: str, name: str, inputs: Mapping[str, Port], steps: list[CompiledStep],
                outputs: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "application": application, "version": version, "workflow": name,
        "inputs": {k: p.model_dump_spec() for k, p in inputs.items()},
        "steps": [{"name": s.name, "component": s.component.model_dump(mode="json", by_alias=True, exclude_none=True),
                   "in": {k: src.to_spec() for k, src in s.inputs.items()}, "retries": s.retries,
                   "backoff": s.backoff, "timeout": s.timeout, "cache": s.cache,
                   "resources": s.resources.model_dump(exclude_none=True)} for s in steps],
        "outputs": {k: f"{s}.{p}" for k, (s, p) in outputs.items()},
    }


# --- type compatibility between connected ports -----------------------------------------------------

def _types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema admits at the top level; ``None`` when it admits anything."""
    if "type" in schema:
        declared = schema["type"]
        types = set(declared if isinstance(declared, list) else [declared])
        return types | ({"integer"} if "number" in types else set())
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            parts = [_types(s) for s in schema[combinator] if isinstance(s, dict)]
            if any(p is None for p in parts):
                return None
            return set().union(*parts)  # type: ignore[arg-type]
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return {_json_type(v) for v in values}
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def compatible(produced: dict[str, Any], accepted: dict[str, Any]) -> bool:
    """Can every value of ``produced`` be fed to ``accepted``? Checked on JSON types (an integer is a
    number); ``{}`` on either side means any value."""
    out, into = _types(produced), _types(accepted)
    if out is None or into is None:
        return True
    return out <= into


def _describe(schema: dict[str, Any]) -> str:
    types = _types(schema)
    return "any" if types is None else " | ".join(sorted(types - ({"integer"} if "number" in types else set())))


# --- compilation ------------------------------------------------------------------------------------

def compile_workflow(application: str, version: str, name: str, spec: WorkflowSpec,
                     components: Mapping[str, ComponentSpec], parameters_schema: dict[str, Any] | None = None,
                     prefix: str = "") -> CompiledWorkflow:
    """Check a workflow completely and order its steps. Every problem is reported at once, each with the
    JSON pointer of the step and port at fault (``prefix`` is where the workflow sits in its document)."""
    errors: list[FieldError] = []
    at = f"{prefix}/steps"
    declared_params = set((parameters_schema or {}).get("properties", {}))
    steps: dict[str, CompiledStep] = {}
    for step_name, step in spec.steps.items():
        where = f"{at}/{step_name}"
        component = components.get(step.component)
        if component is None:
            errors.append(FieldError(f"{where}/component", f"unknown component {step.component!r}; "
                                     f"known: {', '.join(sorted(components)) or 'none'}"))
            continue
        inputs: dict[str, Source] = {}
        for port, raw in step.in_.items():
            if port not in component.inputs:
                errors.append(FieldError(f"{where}/in/{port}", f"{step.component} has no input {port!r}; its inputs: "
                                         f"{', '.join(component.inputs) or 'none'}"))
                continue
            try:
                inputs[port] = parse_source(raw)
            except ValueError as exc:
                errors.append(FieldError(f"{where}/in/{port}", str(exc)))
        for port, declared in component.inputs.items():
            if port not in step.in_ and declared.required:
                errors.append(FieldError(f"{where}/in/{port}", f"missing input {port!r} of {step.component} "
                                         f"(expects {_describe(declared.schema_)})"))
        upstream = sorted({s.ref for s in inputs.values() if s.kind == "step"})
        policy = {k: v for k, v in step.model_dump(exclude_none=True).items() if k in ExecutionPolicy.model_fields}
        defaults = component.model_dump(exclude_none=True)
        steps[step_name] = CompiledStep(
            name=step_name, component=component, inputs=inputs, upstream=upstream,
            retries=policy.get("retries", defaults.get("retries", 0)),
            backoff=policy.get("backoff", defaults.get("backoff", 1.0)),
            timeout=policy.get("timeout", defaults.get("timeout")),
            cache=policy.get("cache", defaults.get("cache", False)),
            resources=step.resources or component.resources or Resources(),
        )
    for step_name, compiled in steps.items():
        for port, source in compiled.inputs.items():
            where = f"{at}/{step_name}/in/{port}"
            accepted = compiled.component.inputs[port].schema_
            if source.kind == "step":
                producer = steps.get(source.ref)
                if source.ref not in spec.steps:
                    errors.append(FieldError(where, f"no step named {source.ref!r}"))
                elif producer is None:
                    continue  # its own error is reported already
                elif source.port not in producer.component.outputs:
                    errors.append(FieldError(where, f"step {source.ref!r} ({producer.component.ref}) has no output "
                                             f"{source.port!r}; its outputs: {', '.join(producer.component.outputs)}"))
                elif not compatible(producer.component.outputs[source.port].schema_, accepted):
                    produced = producer.component.outputs[source.port].schema_
                    errors.append(FieldError(where, f"type mismatch: {source.ref}.{source.port} gives "
                                             f"{_describe(produced)}, {step_name}.{port} expects {_describe(accepted)}"))
            elif source.kind == "value":
                errors += schema_errors(accepted, source.value, where)
            elif source.kind == "input":
                if source.ref not in spec.inputs:
                    errors.append(FieldError(where, f"the workflow declares no input {source.ref!r}; declared: "
                                             f"{', '.join(spec.inputs) or 'none'}"))
                elif not compatible(spec.inputs[source.ref].schema_, accepted):
                    errors.append(FieldError(where, f"type mismatch: input {source.ref!r} is "
                                             f"{_describe(spec.inputs[source.ref].schema_)}, {step_name}.{port} "
                                             f"expects {_describe(accepted)}"))
            elif source.kind == "param" and parameters_schema is not None and source.ref not in declared_params:
                errors.append(FieldError(where, f"the application declares no parameter {source.ref!r}; declared: "
                                         f"{', '.join(sorted(declared_params)) or 'none'}"))
    for port, declared in spec.inputs.items():
        if declared.default is not None:
            errors += schema_errors(declared.schema_, declared.default, f"{prefix}/inputs/{port}/default")
    outputs: dict[str, tuple[str, str]] = {}
    for out_name, target in spec.outputs.items():
        step_name, _, port = target.partition(".")
        port = port or DEFAULT_OUTPUT
        producer = steps.get(step_name)
        if step_name not in spec.steps:
            errors.append(FieldError(f"{prefix}/outputs/{out_name}", f"no step named {step_name!r}"))
        elif producer is not None and port not in producer.component.outputs:
            errors.append(FieldError(f"{prefix}/outputs/{out_name}", f"step {step_name!r} has no output {port!r}"))
        else:
            outputs[out_name] = (step_name, port)
    order = _topological(steps, at, errors)
    if errors:
        raise InvalidInput(f"workflow {name!r} of {application} {version} is invalid", code="invalid_workflow",
                           errors=errors)
    ordered = [steps[s] for s in order]
    sha = sha256_json(_definition(application, version, name, spec.inputs, ordered, outputs))
    return CompiledWorkflow(application=application, version=version, name=name, inputs=spec.inputs,
                            steps=ordered, outputs=outputs, sha256=sha)


def _topological(steps: Mapping[str, CompiledStep], at: str, errors: list[FieldError]) -> list[str]:
    """Kahn's algorithm in declaration order; a cycle is reported with the steps on it."""
    remaining = {name: {u for u in s.upstream if u in steps} for name, s in steps.items()}
    order: list[str] = []
    while True:
        ready = [name for name, deps in remaining.items() if not deps]
        if not ready:
            break
        for name in ready:
            order.append(name)
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    if remaining:
        cycle = sorted(remaining)
        errors.append(FieldError(f"{at}/{cycle[0]}", f"the steps {', '.join(cycle)} form a cycle (or depend on one)"))
    return order


def input_errors(declared: Mapping[str, Port], given: Mapping[str, Any], prefix: str) -> list[FieldError]:
    errors = [FieldError(f"{prefix}/{name}", f"the workflow declares no input {name!r}; declared: "
                         f"{', '.join(declared) or 'none'}") for name in given if name not in declared]
    for name, port in declared.items():
        if name in given:
            errors += schema_errors(port.schema_, given[name], f"{prefix}/{name}")
        elif port.required and port.default is None:
            errors.append(FieldError(f"{prefix}/{name}", f"missing workflow input {name!r}"))
    return errors


def resolve_inputs(spec: WorkflowSpec | CompiledWorkflow, given: Mapping[str, Any], prefix: str = "/inputs") -> dict[str, Any]:
    """The run's workflow inputs: given values checked against their schemas, defaults filled in."""
    declared = spec.inputs
    errors = input_errors(declared, given, prefix)
    if errors:
        raise InvalidInput("the workflow inputs are invalid", code="invalid_inputs", errors=errors)
    return {name: given.get(name, port.default) for name, port in declared.items()}


def compile_application(manifest: AppManifest, components: Mapping[str, ComponentSpec]) -> dict[str, CompiledWorkflow]:
    """Every workflow of an application, and the inputs its triggers give them, checked together."""
    errors: list[FieldError] = []
    compiled: dict[str, CompiledWorkflow] = {}
    for name, spec in manifest.workflows.items():
        try:
            compiled[name] = compile_workflow(manifest.name, manifest.version, name, spec, components,
                                              manifest.parameters, f"/workflows/{name}")
        except InvalidInput as exc:
            errors += exc.errors
    for name, trigger in manifest.triggers.items():
        errors += input_errors(manifest.workflows[trigger.workflow].inputs, trigger.inputs, f"/triggers/{name}/inputs")
        if trigger.event and trigger.event.channels:
            unknown = [c for c in trigger.event.channels if manifest.channel(c) is None]
            errors += [FieldError(f"/triggers/{name}/event/channels", f"no channel {c!r} is declared") for c in unknown]
    if errors:
        raise InvalidInput(f"the workflows of {manifest.name} {manifest.version} are invalid", code="invalid_workflow",
                           errors=errors)
    return compiled
