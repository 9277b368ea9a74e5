"""Worker-side runner of imported CWL ``CommandLineTool`` components.

The tool document comes from the application's immutable bundle (unpacked by the worker); the
command line is built from ``baseCommand``, ``arguments`` and ``inputBinding`` by
:func:`dte.domain.cwl.command_line` and run without a shell in a scratch directory that is removed
afterwards. Inputs of type ``File`` arrive as text and are written to files; ``File`` outputs go back
as their text (or bytes when they are not UTF-8).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dte.domain.cwl import (
    MAX_CONTENTS,
    base_type,
    command_line,
    evaluate,
    inputs_of,
    load_tool_text,
    outputs_of,
    requirements_of,
)
from dte.domain.workflows import DEFAULT_OUTPUT, ComponentSpec

MAX_STREAM_CHARS = 64 * 1024


class ToolFailed(RuntimeError):
    """The program exited with a code the tool does not count as success, or its outputs are missing."""


def _file(path: Path, load: bool = False) -> dict[str, Any]:
    stem, dot, ext = path.name.rpartition(".")
    entry: dict[str, Any] = {"class": "File", "path": str(path), "location": path.as_uri(), "basename": path.name,
                             "dirname": str(path.parent), "nameroot": stem if dot else path.name,
                             "nameext": f".{ext}" if dot else "", "size": path.stat().st_size}
    if load:
        entry["contents"] = path.read_bytes()[:MAX_CONTENTS].decode("utf-8", errors="replace")
    return entry


def _stage(name: str, kind: str, value: Any, folder: Path, load: bool) -> Any:
    """Write text given for a ``File`` input to a file and describe it as a CWL File object."""
    if value is None:
        return None
    if kind.endswith("[]") and isinstance(value, list):
        return [_stage(f"{name}-{i}", kind[:-2], v, folder, load) for i, v in enumerate(value)]
    if kind != "File":
        return value
    path = folder / name
    path.write_bytes(value if isinstance(value, bytes) else str(value).encode())
    return _file(path, load)


def _content(path: Path) -> str | bytes:
    data = path.read_bytes()
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _coerce(value: Any, kind: str, name: str) -> Any:
    """Plain values for DTE: File objects become their content; text from ``outputEval`` becomes the
    declared scalar (CWL would need JavaScript to parse it)."""
    if kind.endswith("[]"):
        return [_coerce(v, kind[:-2], name) for v in (value or [])]
    if isinstance(value, list) and kind not in ("Any", "File", "stdout", "stderr"):
        value = value[0] if len(value) == 1 else value
    if isinstance(value, list) and kind in ("File", "stdout", "stderr"):
        if len(value) != 1:
            raise ToolFailed(f"output {name!r} expects one file, the glob found {len(value)}")
        value = value[0]
    if isinstance(value, dict) and value.get("class") == "File":
        return _content(Path(value["path"]))
    if isinstance(value, str) and kind in ("int", "long", "float", "double", "boolean"):
        text = value.strip()
        try:
            parsed = json.loads(text.lower() if kind == "boolean" else text)
        except ValueError:
            raise ToolFailed(f"output {name!r}: {text[:80]!r} is not a {kind}") from None
        return float(parsed) if kind in ("float", "double") else parsed
    return value


def _located(value: Any, outdir: Path) -> Any:
    """File objects of a tool's ``cwl.output.json`` name their file by ``path`` or ``location``
    (relative to the output directory, or ``file://``); only files inside that directory are read."""
    if isinstance(value, list):
        return [_located(v, outdir) for v in value]
    if not (isinstance(value, dict) and value.get("class") == "File"):
        return value
    where = str(value.get("path") or value.get("location") or "").removeprefix("file://")
    path = (outdir / where).resolve()
    if not where or not path.is_relative_to(outdir.resolve()) or not path.is_file():
        raise ToolFailed(f"cwl.output.json names a file {where!r} that is not in the tool's output directory")
    return {**value, "path": str(path)}


def _glob(pattern: Any, outdir: Path, load: bool) -> list[dict[str, Any]]:
    patterns = pattern if isinstance(pattern, list) else [pattern]
    found: list[dict[str, Any]] = []
    for item in patterns:
        if not isinstance(item, str) or not item:
            continue
        for path in sorted(outdir.glob(item)):
            resolved = path.resolve()
            if resolved.is_file() and resolved.is_relative_to(outdir.resolve()):
                found.append(_file(resolved, load))
    return found


def _outputs(tool: Mapping[str, Any], context: dict[str, Any], outdir: Path, streams: dict[str, Path]) -> dict[str, Any]:
    written = outdir / "cwl.output.json"
    given = json.loads(written.read_text()) if written.is_file() else None
    values: dict[str, Any] = {}
    for name, field, _ in outputs_of(tool):
        kind = base_type(field.get("type", "Any"))
        if given is not None:
            value = _located(given.get(name), outdir)
        elif kind in ("stdout", "stderr"):
            value = _file(streams[kind])
        else:
            binding = field.get("outputBinding") or {}
            value = _glob(evaluate(binding.get("glob"), context), outdir, bool(binding.get("loadContents")))
            if "outputEval" in binding:
                value = evaluate(binding["outputEval"], {**context, "self": value})
        optional = isinstance(field.get("type"), list) and "null" in field["type"] or \
            str(field.get("type", "")).endswith("?")
        if value in (None, []) and kind in ("File", "stdout", "stderr") and not optional:
            raise ToolFailed(f"the tool produced no file for output {name!r}")
        values[name] = _coerce(value, kind, name)
    return values


def run(tool: Mapping[str, Any], inputs: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run a CommandLineTool once with JSON inputs; return its outputs by name."""
    scratch = Path(tempfile.mkdtemp(prefix="dte-cwl-"))
    try:
        outdir, tmpdir, staged = scratch / "out", scratch / "tmp", scratch / "inputs"
        for folder in (outdir, tmpdir, staged):
            folder.mkdir()
        values: dict[str, Any] = {}
        for name, field, _ in inputs_of(tool):
            value = inputs.get(name)
            value = field.get("default") if value is None else value  # CWL: null takes the default too
            load = bool((field.get("inputBinding") or {}).get("loadContents") or field.get("loadContents"))
            values[name] = _stage(name, base_type(field.get("type", "Any")), value, staged, load)
        requirements = requirements_of(tool)
        cores = requirements.get("ResourceRequirement", {}).get("coresMin", 1)
        context: dict[str, Any] = {"inputs": values, "self": None, "runtime": {
            "outdir": str(outdir), "tmpdir": str(tmpdir), "cores": cores, "ram": 1024,
            "outdirSize": 1024, "tmpdirSize": 1024, "exitCode": None}}
        argv = command_line(tool, context)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(outdir), "TMPDIR": str(tmpdir),
               "LANG": "C.UTF-8"}
        env_requirement = requirements.get("EnvVarRequirement", {}).get("envDef", {})
        definitions = env_requirement.items() if isinstance(env_requirement, dict) else \
            [(d.get("envName"), d.get("envValue")) for d in env_requirement]
        env.update({str(k): str(evaluate(v, context)) for k, v in definitions})
        streams = {kind: outdir / str(evaluate(tool.get(kind), context) or f".dte-{kind}")
                   for kind in ("stdout", "stderr")}
        if any(not path.resolve().is_relative_to(outdir.resolve()) for path in streams.values()):
            raise ToolFailed("stdout and stderr must name files inside the tool's output directory")
        stdin_path = evaluate(tool.get("stdin"), context)
        with streams["stdout"].open("wb") as out, streams["stderr"].open("wb") as err, \
                (open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb")) as stdin:  # noqa: SIM115
            try:
                done = subprocess.run(argv, stdin=stdin, stdout=out, stderr=err, cwd=outdir, env=env,
                                      timeout=timeout, check=False)
            except FileNotFoundError:
                raise ToolFailed(f"the program {argv[0]!r} is not installed on this worker") from None
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"the tool ran longer than {timeout:g} s") from None
        _echo(streams)
        if done.returncode not in tool.get("successCodes", [0]):
            raise ToolFailed(f"{argv[0]} exited with code {done.returncode}")
        context["runtime"]["exitCode"] = done.returncode
        return _outputs(tool, context, outdir, streams)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _echo(streams: Mapping[str, Path]) -> None:
    """The program's stderr (and stdout when not captured as an output) goes to the step's logs."""
    for kind, path in streams.items():
        if path.name.startswith(".dte-") or kind == "stderr":
            text = path.read_bytes()[:MAX_STREAM_CHARS].decode("utf-8", errors="replace")
            if text:
                print(text, end="" if text.endswith("\n") else "\n")


def tool_function(spec: ComponentSpec, bundle: Path) -> Callable[..., Any]:
    """A callable the worker's ``call`` treats like a Python component."""
    assert spec.tool is not None
    tool = load_tool_text((bundle / spec.tool).read_bytes(), spec.tool)

    def run_tool(**inputs: Any) -> Any:
        produced = run(tool, inputs, spec.timeout)
        return produced[DEFAULT_OUTPUT] if list(spec.outputs) == [DEFAULT_OUTPUT] else produced

    run_tool.__name__ = spec.ref
    return run_tool


def run_tool(**inputs: Any) -> Any:
    """The entry named in imported tools' specs; the worker loads :func:`tool_function` instead,
    because running a tool needs its document from the bundle."""
    raise RuntimeError("CWL tool components are loaded with dte.adapters.compute.cwl.tool_function")
