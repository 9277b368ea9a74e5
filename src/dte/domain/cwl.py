"""CWL v1.2 at the edges of the workflow engine, as pure data mappings in both directions.

Export: a :class:`~dte.domain.workflows.CompiledWorkflow` becomes a CWL ``Workflow`` whose steps each
run an inline ``CommandLineTool`` that calls ``dte component exec`` - so any CWL runner can re-run a
DTE workflow. Import: a CWL ``CommandLineTool`` becomes a :class:`ComponentSpec` whose entry is the
worker-side runner (``dte.adapters.compute.cwl``), so an external program can be a step.

No JavaScript is ever evaluated: only CWL *parameter references* (``$(inputs.x)``,
``$(self[0].contents)``, ``$(runtime.outdir)``) are understood; a tool needing more is refused when
the application is built or published, with the JSON pointer of what to change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

from dte.domain.errors import FieldError, InvalidInput
from dte.domain.workflows import PORT_PATTERN, REF_PATTERN, CompiledWorkflow, ComponentSpec, Port, Resources

CWL_VERSION = "v1.2"
DTE_NAMESPACE = "https://dte.invalid/cwl#"
TOOL_RUNNER = "dte.adapters.compute.cwl:run_tool"
BUNDLE_INPUT = "dte_bundle"  # the Directory input of an exported workflow that calls application components
EXEC_COMMAND = ("dte", "component", "exec")
MAX_CONTENTS = 64 * 1024  # what ``loadContents`` reads, as CWL v1.2 specifies

# --- types -----------------------------------------------------------------------------------------------

_SCALARS_TO_CWL = {"number": "double", "integer": "long", "boolean": "boolean", "string": "string", "null": "null"}
_CWL_TO_SCHEMA: dict[str, dict[str, Any]] = {
    "string": {"type": "string"}, "int": {"type": "integer"}, "long": {"type": "integer"},
    "float": {"type": "number"}, "double": {"type": "number"}, "boolean": {"type": "boolean"},
    "null": {"type": "null"}, "Any": {},
    # A File crosses into DTE as its text content; the runner writes it to a file (and reads it back).
    "File": {"type": "string", "x-cwl-type": "File"},
    "stdout": {"type": "string", "x-cwl-type": "File"}, "stderr": {"type": "string", "x-cwl-type": "File"},
}


def cwl_type(schema: Mapping[str, Any]) -> Any:
    """The CWL type of a JSON Schema: number -> double, integer -> long, boolean, string, null,
    arrays of those; objects, unions and anything else -> Any."""
    declared = schema.get("type")
    if isinstance(declared, list):
        others = [t for t in declared if t != "null"]
        if len(others) == 1:
            inner = cwl_type({**schema, "type": others[0]})
            return ["null", inner] if "null" in declared else inner
        return "Any"
    for combinator in ("anyOf", "oneOf"):
        parts = schema.get(combinator)
        if isinstance(parts, list) and not declared:
            others = [p for p in parts if isinstance(p, dict) and p.get("type") != "null"]
            if len(others) == 1 and len(parts) == 2:
                return ["null", cwl_type(others[0])]
            return "Any"
    if declared == "array":
        items = schema.get("items")
        return {"type": "array", "items": cwl_type(items) if isinstance(items, dict) else "Any"}
    if isinstance(declared, str) and declared in _SCALARS_TO_CWL:
        return _SCALARS_TO_CWL[declared]
    return "Any"


def _optional(kind: Any) -> Any:
    if kind == "Any":
        return ["null", "Any"]
    if isinstance(kind, list):
        return kind if "null" in kind else ["null", *kind]
    return kind if kind == "null" else ["null", kind]


def port_schema(kind: Any, pointer: str, errors: list[FieldError]) -> tuple[dict[str, Any], bool]:
    """The JSON Schema of a CWL type and whether it admits null (``string?``, ``[null, x]``)."""
    if isinstance(kind, str):
        optional = kind.endswith("?")
        base = kind.removesuffix("?")
        if base.endswith("[]"):
            items, _ = port_schema(base[:-2], pointer, errors)
            return {"type": "array", "items": items}, optional
        base = base.rsplit("#", 1)[-1]
        if base in _CWL_TO_SCHEMA:
            return dict(_CWL_TO_SCHEMA[base]), optional
        errors.append(FieldError(pointer, f"the CWL type {base!r} is not supported here (supported: "
                                 f"{', '.join(sorted(_CWL_TO_SCHEMA))}, arrays and enums)"))
        return {}, optional
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        if len(others) != 1:
            errors.append(FieldError(pointer, "unions of several CWL types are not supported (only [null, TYPE])"))
            return {}, "null" in kind
        schema, _ = port_schema(others[0], pointer, errors)
        return schema, len(others) < len(kind)
    if isinstance(kind, dict):
        if kind.get("type") == "array":
            items, _ = port_schema(kind.get("items", "Any"), f"{pointer}/items", errors)
            return {"type": "array", "items": items}, False
        if kind.get("type") == "enum":
            symbols = [str(s).rsplit("/", 1)[-1].rsplit("#", 1)[-1] for s in kind.get("symbols", [])]
            return {"type": "string", "enum": symbols}, False
    errors.append(FieldError(pointer, f"the CWL type {kind!r} is not supported (records and Directory are not)"))
    return {}, False


def base_type(kind: Any) -> str:
    """``File``, ``long``, ``File[]``... without null: what the runner converts values by."""
    if isinstance(kind, str):
        return kind.removesuffix("?").rsplit("#", 1)[-1]
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        return base_type(others[0]) if others else "null"
    if isinstance(kind, dict) and kind.get("type") == "array":
        return base_type(kind.get("items", "Any")) + "[]"
    return "string" if isinstance(kind, dict) and kind.get("type") == "enum" else "Any"


# --- parameter references (the JavaScript-free expressions of CWL) -----------------------------------------

_SEGMENT = r"(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\])"
REFERENCE = re.compile(r"\$\((inputs|self|runtime)(" + _SEGMENT + r"*)\)")
_SEGMENTS = re.compile(_SEGMENT)


def expression_problem(text: str) -> str | None:
    """Why a string is not a literal or parameter references (``${...}`` or ``$(... JavaScript ...)``)."""
    if "${" in text:
        return "JavaScript expressions (${...}) are not supported; use parameter references like $(inputs.x)"
    rest = REFERENCE.sub("", text)
    if "$(" in rest:
        found = rest[rest.index("$("):][:40]
        return (f"{found!r} is not a CWL parameter reference (inputs.NAME..., self..., runtime...); "
                "JavaScript is not evaluated")
    return None


def _lookup(context: Mapping[str, Any], symbol: str, path: str) -> Any:
    node: Any = context[symbol]
    for segment in _SEGMENTS.findall(path):
        key: Any = segment[1:] if segment.startswith(".") else segment[1:-1].strip("'\"")
        if segment.startswith("[") and segment[1:-1].isdigit():
            key = int(segment[1:-1])
        if key == "length" and isinstance(node, list):
            node = len(node)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return None
    return node


def evaluate(text: Any, context: Mapping[str, Any]) -> Any:
    """A string with parameter references: one whole reference gives the value itself (a list, a
    File...), references inside text are interpolated as strings (JSON for objects)."""
    if not isinstance(text, str):
        return text
    whole = REFERENCE.fullmatch(text.strip())
    if whole:
        return _lookup(context, whole.group(1), whole.group(2))

    def render(match: re.Match[str]) -> str:
        value = _lookup(context, match.group(1), match.group(2))
        return value if isinstance(value, str) else json.dumps(value)

    return REFERENCE.sub(render, text)


# --- import: a CommandLineTool as a component ----------------------------------------------------------------

_SUPPORTED_REQUIREMENTS = {"EnvVarRequirement", "ResourceRequirement", "ToolTimeLimit", "NetworkAccess", "WorkReuse",
                           "StepInputExpressionRequirement"}
_REFUSED_REQUIREMENTS = {
    "InlineJavascriptRequirement": "JavaScript is never evaluated by DTE; use parameter references like $(inputs.x)",
    "ShellCommandRequirement": "tools run without a shell; give the program and its arguments (baseCommand)",
}
_NO_EXPRESSIONS = {"doc", "label", "id", "class", "cwlVersion", "$namespaces", "$schemas", "type", "symbols",
                   "format", "default"}


def _entries(node: Any, pointer: str, errors: list[FieldError]) -> list[tuple[str, dict[str, Any], str]]:
    """CWL's two spellings of inputs/outputs (map by id, or a list with ids) as (id, field, pointer)."""
    if node is None:
        return []
    if isinstance(node, dict):
        return [(str(k), v if isinstance(v, dict) else {"type": v}, f"{pointer}/{k}") for k, v in node.items()]
    if isinstance(node, list):
        found = []
        for i, item in enumerate(node):
            if not isinstance(item, dict) or "id" not in item:
                errors.append(FieldError(f"{pointer}/{i}", "each entry needs an 'id'"))
                continue
            found.append((str(item["id"]).rsplit("#", 1)[-1].rsplit("/", 1)[-1], item, f"{pointer}/{i}"))
        return found
    errors.append(FieldError(pointer, "expected a mapping or a list"))
    return []


def inputs_of(tool: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    return _entries(tool.get("inputs"), "/inputs", [])


def outputs_of(tool: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    return _entries(tool.get("outputs"), "/outputs", [])


def requirements_of(tool: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Requirements by class (hints first, so a requirement overrides a hint of the same class)."""
    found: dict[str, dict[str, Any]] = {}
    for field in ("hints", "requirements"):
        for _, entry, _ in _requirement_entries(tool.get(field)):
            found[str(entry.get("class"))] = entry
    return found


def _requirement_entries(node: Any) -> list[tuple[int | str, dict[str, Any], str]]:
    if isinstance(node, dict):  # {Class: {fields}} spelling
        return [(k, {"class": k, **(v if isinstance(v, dict) else {})}, str(k)) for k, v in node.items()]
    if isinstance(node, list):
        return [(i, e, str(i)) for i, e in enumerate(node) if isinstance(e, dict)]
    return []


def _walk_expressions(node: Any, pointer: str, errors: list[FieldError]) -> None:
    if isinstance(node, str):
        problem = expression_problem(node)
        if problem:
            errors.append(FieldError(pointer, problem))
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in _NO_EXPRESSIONS:
                _walk_expressions(value, f"{pointer}/{key}", errors)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk_expressions(value, f"{pointer}/{i}", errors)


def _binding_errors(binding: Any, pointer: str) -> list[FieldError]:
    """What the command-line builder relies on, checked here because a bundle may be built by hand."""
    if not isinstance(binding, dict):
        return [FieldError(pointer, "a binding is a mapping (position, prefix, separate, itemSeparator, valueFrom)")]
    expected = {"position": int, "prefix": str, "separate": bool, "itemSeparator": str, "loadContents": bool}
    return [FieldError(f"{pointer}/{key}", f"{key} must be a {kind.__name__}") for key, kind in expected.items()
            if key in binding and (not isinstance(binding[key], kind) or (kind is int and isinstance(binding[key], bool)))]


def _shape_errors(tool: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    base = tool.get("baseCommand", [])
    if not isinstance(base, str) and not (isinstance(base, list) and all(isinstance(b, str) for b in base)):
        errors.append(FieldError("/baseCommand", "baseCommand is a string or a list of strings"))
    arguments = tool.get("arguments", [])
    if not isinstance(arguments, list):
        errors.append(FieldError("/arguments", "arguments is a list"))
    else:
        errors += [e for i, a in enumerate(arguments) if not isinstance(a, str)
                   for e in _binding_errors(a, f"/arguments/{i}")]
    for key in ("stdin", "stdout", "stderr"):
        if key in tool and not isinstance(tool[key], str):
            errors.append(FieldError(f"/{key}", f"{key} is a file name (a string)"))
    codes = tool.get("successCodes", [0])
    if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        errors.append(FieldError("/successCodes", "successCodes is a list of integers"))
    return errors


def tool_errors(tool: Any) -> list[FieldError]:
    """Everything about a tool document the DTE runner cannot do, each with its JSON pointer."""
    if not isinstance(tool, dict):
        return [FieldError("", "a CWL document is a mapping")]
    errors: list[FieldError] = []
    if tool.get("class") != "CommandLineTool":
        errors.append(FieldError("/class", f"only CommandLineTool can be imported as a component, not "
                                 f"{tool.get('class')!r}"))
    if tool.get("cwlVersion") not in ("v1.0", "v1.1", "v1.2"):
        errors.append(FieldError("/cwlVersion", "cwlVersion must be v1.0, v1.1 or v1.2"))
    for field in ("requirements", "hints"):
        for _, entry, at in _requirement_entries(tool.get(field)):
            kind = str(entry.get("class"))
            if kind in _REFUSED_REQUIREMENTS:
                errors.append(FieldError(f"/{field}/{at}", f"{kind} is not supported: {_REFUSED_REQUIREMENTS[kind]}"))
            elif field == "requirements" and kind not in _SUPPORTED_REQUIREMENTS:
                errors.append(FieldError(f"/{field}/{at}", f"the requirement {kind} is not supported by the DTE "
                                         f"runner (supported: {', '.join(sorted(_SUPPORTED_REQUIREMENTS))})"))
    if "baseCommand" not in tool and "arguments" not in tool:
        errors.append(FieldError("/baseCommand", "a tool needs a baseCommand (or arguments)"))
    errors += _shape_errors(tool)
    for name, field, at in _entries(tool.get("inputs"), "/inputs", errors):
        if not re.match(PORT_PATTERN, name):
            errors.append(FieldError(at, f"input id {name!r} must be lower case letters, digits and _ (a DTE port)"))
        port_schema(field.get("type", "Any"), f"{at}/type", errors)
        if "inputBinding" in field:
            errors += _binding_errors(field["inputBinding"], f"{at}/inputBinding")
        if isinstance(field.get("default"), dict):
            errors.append(FieldError(f"{at}/default", "File and object defaults are not supported"))
    for name, field, at in _entries(tool.get("outputs"), "/outputs", errors):
        if not re.match(PORT_PATTERN, name):
            errors.append(FieldError(at, f"output id {name!r} must be lower case letters, digits and _ (a DTE port)"))
        port_schema(field.get("type", "Any"), f"{at}/type", errors)
    _walk_expressions({k: v for k, v in tool.items() if k != "hints"}, "", errors)
    for _, entry, at in _requirement_entries(tool.get("hints")):  # hints the runner honours, not the ignored
        if str(entry.get("class")) in _SUPPORTED_REQUIREMENTS:
            _walk_expressions(entry, f"/hints/{at}", errors)
    return errors


def tool_ref(tool: Mapping[str, Any], path: str) -> str:
    """A tool's component name: its ``id`` (without '#'), else its file name without the suffix."""
    raw = str(tool.get("id") or PurePosixPath(path).stem).rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    return raw.removesuffix(".cwl")


def tool_component(tool: Any, path: str, version: str, prefix: str = "") -> ComponentSpec:
    """The :class:`ComponentSpec` of a CommandLineTool at ``path`` inside a bundle. Errors point into
    the tool document, after ``prefix``."""
    errors = tool_errors(tool)
    if not errors:
        ref = tool_ref(tool, path)
        if not re.match(REF_PATTERN, ref) or "." in ref:
            errors.append(FieldError("/id", f"the component name {ref!r} (from the tool's id or file name) must be "
                                     "lower case letters and digits joined by - or _"))
    if errors:
        raise InvalidInput(f"the CWL tool {path} cannot be imported", code="invalid_tool",
                           errors=[FieldError(prefix + e.pointer, e.detail) for e in errors])
    inputs: dict[str, Port] = {}
    for name, field, at in inputs_of(tool):
        schema, optional = port_schema(field.get("type", "Any"), at, [])
        default = field.get("default")
        inputs[name] = Port(schema={"anyOf": [schema, {"type": "null"}]} if optional and schema else schema,
                            required=not optional and default is None, default=default,
                            description=str(field.get("doc") or field.get("label") or ""))
    outputs = {name: Port(schema=port_schema(field.get("type", "Any"), at, [])[0],
                          description=str(field.get("doc") or field.get("label") or ""))
               for name, field, at in outputs_of(tool)}
    requirements = requirements_of(tool)
    limit = requirements.get("ToolTimeLimit", {}).get("timelimit")
    # coresMin becomes the CPU hint; ramMin is not mapped: few Dask workers declare a MEMORY resource,
    # and a step asking for one would find no worker (a workflow step can still ask with 'resources').
    cores = requirements.get("ResourceRequirement", {}).get("coresMin")
    hints = Resources(cpu=float(cores) if isinstance(cores, int | float) and cores > 0 else None)
    return ComponentSpec(ref=tool_ref(tool, path), version=version, entry=TOOL_RUNNER,
                         description=str(tool.get("doc") or tool.get("label") or "").split("\n\n")[0].strip(),
                         inputs=inputs, outputs=outputs, source="application", tool=path,
                         timeout=float(limit) if isinstance(limit, int | float) and limit > 0 else None,
                         resources=hints if hints.dask() else None)


def check_tools(paths: Sequence[str], documents: Mapping[str, Any], version: str,
                components: Sequence[ComponentSpec]) -> list[ComponentSpec]:
    """The components of an application's CWL tools, checked against those its index declares (the
    engine derives them itself: a tool is data, so publishing never trusts the index for them)."""
    errors: list[FieldError] = []
    specs: list[ComponentSpec] = []
    declared = {c.ref: c for c in components}
    for i, path in enumerate(paths):
        if path not in documents:
            errors.append(FieldError(f"/tools/{i}", f"the bundle has no file {path!r}"))
            continue
        try:
            spec = tool_component(documents[path], path, version, f"/{path}")
        except InvalidInput as exc:
            errors += exc.errors
            continue
        if declared.get(spec.ref) != spec:
            errors.append(FieldError(f"/tools/{i}", f"the component index does not describe {path} as it is now; "
                                     "rebuild the bundle ('dte app publish' does)"))
        specs.append(spec)
    if errors:
        raise InvalidInput("the application's CWL tools are invalid", code="invalid_tool", errors=errors)
    return specs


def load_tool_text(text: str | bytes, path: str) -> Any:
    """A CWL document's YAML (or JSON), read safely (no aliases, no custom tags)."""
    from dte.domain.manifest import _ManifestLoader

    try:
        return yaml.load(text, Loader=_ManifestLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}", code="invalid_tool",
                           errors=[FieldError(f"/{path}", "not valid YAML")]) from None


# --- command lines (used by the worker-side runner) ---------------------------------------------------------

def _render(value: Any) -> list[str]:
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, dict) and value.get("class") in ("File", "Directory"):
        return [str(value["path"])]
    if isinstance(value, list):
        return [part for item in value for part in _render(item)]
    if isinstance(value, dict):
        return [json.dumps(value)]
    return [] if value is None else [str(value)]


def _bound(binding: Mapping[str, Any], value: Any, context: Mapping[str, Any]) -> list[str]:
    """One binding (an argument or an input's inputBinding) as command-line words."""
    if "valueFrom" in binding:
        value = evaluate(binding["valueFrom"], {**context, "self": value})
    if value is None or value is False or (isinstance(value, list) and not value):
        return []
    prefix = binding.get("prefix")
    if value is True:
        return [str(prefix)] if prefix else []
    separator = binding.get("itemSeparator")
    words = [str(separator).join(_render(value))] if separator is not None and isinstance(value, list) else _render(value)
    if not prefix:
        return words
    if binding.get("separate", True):
        return [str(prefix), *words]
    return [str(prefix) + words[0], *words[1:]] if words else [str(prefix)]


def command_line(tool: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    """``baseCommand`` then the arguments and bound inputs sorted by position (arguments first at
    equal positions, then inputs by name), as CWL v1.2 specifies; ``context`` has ``inputs`` (Files as
    File objects) and ``runtime``."""
    base = tool.get("baseCommand", [])
    words = [str(base)] if isinstance(base, str) else [str(b) for b in base]
    keyed: list[tuple[tuple[int, int, Any], list[str]]] = []
    for i, argument in enumerate(tool.get("arguments", [])):
        if isinstance(argument, str):
            keyed.append(((0, 0, i), _render(evaluate(argument, context))))
        else:
            keyed.append(((int(argument.get("position", 0)), 0, i), _bound(argument, None, context)))
    for name, field, _ in inputs_of(tool):
        binding = field.get("inputBinding")
        if binding is not None:
            keyed.append(((int(binding.get("position", 0)), 1, name),
                          _bound(binding, context["inputs"].get(name), context)))
    for _, part in sorted(keyed, key=lambda item: item[0]):
        words += part
    return words


# --- export: a compiled workflow as a CWL Workflow --------------------------------------------------------------

def _unique_id(kind: str, ref: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", f"{kind}_{ref.strip('/')}").strip("_")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _tool(workflow: CompiledWorkflow, step_name: str, needs_bundle: bool, command: Sequence[str]) -> dict[str, Any]:
    step = workflow.step(step_name)
    spec = step.component
    inputs: dict[str, Any] = {}
    for port, declared in spec.inputs.items():
        kind = cwl_type(declared.schema_)
        field: dict[str, Any] = {"type": _optional(kind) if not declared.required else kind}
        if declared.default is not None:
            field["default"] = declared.default
        if declared.description:
            field["doc"] = declared.description
        inputs[port] = field
    arguments = [spec.ref, "--inputs", "inputs.json", "--outputs", "cwl.output.json"]
    if needs_bundle:
        inputs[BUNDLE_INPUT] = {"type": "Directory", "doc": "the application directory (or unpacked bundle)"}
        arguments += ["--bundle", f"$(inputs.{BUNDLE_INPUT}.path)"]
    tool: dict[str, Any] = {
        "class": "CommandLineTool",
        "label": f"{spec.ref} {spec.version}",
        "baseCommand": list(command),
        "arguments": arguments,
        # CWL v1.2 writes a non-string entry as JSON: the step's inputs become the component's input file.
        "requirements": [{"class": "InitialWorkDirRequirement",
                          "listing": [{"entryname": "inputs.json", "entry": "$(inputs)"}]}],
        "inputs": inputs,
        "outputs": {port: {"type": cwl_type(p.schema_)} for port, p in spec.outputs.items()},
    }
    if spec.description:
        tool["doc"] = spec.description
    # What must be installed where the tool runs: the engine's CLI, and the module providing the component.
    packages = [{"package": "dte"}]
    if spec.source.startswith("module:") and spec.source != "module:dte":
        packages.append({"package": spec.source.removeprefix("module:"), "version": [spec.version]})
    hints: list[dict[str, Any]] = [{"class": "SoftwareRequirement", "packages": packages}]
    if step.timeout:
        hints.append({"class": "ToolTimeLimit", "timelimit": int(max(1, step.timeout))})
    if step.resources.cpu or step.resources.memory:
        resources: dict[str, Any] = {"class": "ResourceRequirement"}
        if step.resources.cpu:
            resources["coresMin"] = step.resources.cpu
        if step.resources.memory:
            resources["ramMin"] = max(1, step.resources.memory // (1024 * 1024))
        hints.append(resources)
    tool["hints"] = hints
    return tool


def workflow_document(workflow: CompiledWorkflow, parameters_schema: Mapping[str, Any] | None = None,
                      command: Sequence[str] = EXEC_COMMAND) -> dict[str, Any]:
    """The CWL v1.2 ``Workflow`` of a compiled workflow. Workflow inputs keep their names; twin
    parameters become ``param_NAME`` inputs, twin state ``state_POINTER`` inputs; literal values are
    step defaults; application components get the ``dte_bundle`` Directory input."""
    properties = (parameters_schema or {}).get("properties", {})
    taken: set[str] = {BUNDLE_INPUT}
    inputs: dict[str, Any] = {}
    for name, port in workflow.inputs.items():
        taken.add(name)
        field: dict[str, Any] = {"type": cwl_type(port.schema_)}
        if port.default is not None:
            field["default"] = port.default
        elif not port.required:
            field["type"] = _optional(field["type"])
        if port.description:
            field["doc"] = port.description
        inputs[name] = field
    needs_bundle = any(s.component.source == "application" for s in workflow.steps)
    # Inputs, steps and outputs share one id space in CWL: a step named like an output is renamed.
    outputs_ids = {o: o if o not in taken else _unique_id("output", o, taken) for o in workflow.outputs}
    taken |= set(outputs_ids.values())
    ids = {s.name: s.name if s.name not in taken else _unique_id("step", s.name, taken) for s in workflow.steps}
    taken |= set(ids.values())
    if needs_bundle:
        inputs[BUNDLE_INPUT] = {"type": "Directory", "doc": "the application directory (dte app pull) that holds "
                                "the code of its components"}
    named: dict[tuple[str, str], str] = {}
    steps: dict[str, Any] = {}
    for step in workflow.steps:
        step_in: dict[str, Any] = {}
        for port, source in step.inputs.items():
            if source.kind == "value":
                step_in[port] = {"default": source.value}
            elif source.kind == "step":
                step_in[port] = f"{ids[source.ref]}/{source.port}"
            elif source.kind == "input":
                step_in[port] = source.ref
            else:
                key = (source.kind, source.ref)
                if key not in named:
                    named[key] = _unique_id(source.kind, source.ref, taken)
                    schema = (properties.get(source.ref) if source.kind == "param" else None) or \
                        step.component.inputs[port].schema_
                    field = {"type": cwl_type(schema), "doc": f"the twin's {'parameter' if source.kind == 'param' else 'state'} "
                             f"{source.ref}"}
                    if source.kind == "param" and isinstance(properties.get(source.ref), dict) \
                            and "default" in properties[source.ref]:
                        field["default"] = properties[source.ref]["default"]
                    inputs[named[key]] = field
                step_in[port] = named[key]
        if needs_bundle and step.component.source == "application":
            step_in[BUNDLE_INPUT] = BUNDLE_INPUT
        steps[ids[step.name]] = {"run": _tool(workflow, step.name, needs_bundle and step.component.source == "application",
                                         command),
                            "in": step_in, "out": list(step.component.outputs)}
    outputs = {outputs_ids[name]: {"type": cwl_type(workflow.step(s).component.outputs[p].schema_), "outputSource": f"{ids[s]}/{p}"}
               for name, (s, p) in workflow.outputs.items()}
    return {
        "cwlVersion": CWL_VERSION, "class": "Workflow",
        "label": f"{workflow.application} {workflow.version} {workflow.name}",
        "doc": f"Exported from DTE: workflow {workflow.name!r} of {workflow.application} {workflow.version}; "
               f"definition sha256 {workflow.sha256}.",
        "$namespaces": {"dte": DTE_NAMESPACE},
        "dte:application": workflow.application, "dte:version": workflow.version, "dte:sha256": workflow.sha256,
        "inputs": inputs, "outputs": outputs, "steps": steps,
    }


def dump_document(document: Mapping[str, Any], fmt: str) -> str:
    """A CWL document as YAML (a ``#!/usr/bin/env cwl-runner`` file) or JSON."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    return "#!/usr/bin/env cwl-runner\n" + yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True)
