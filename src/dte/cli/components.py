"""``dte component ...``: run one component here, outside the engine.

``dte component exec`` is what the ``CommandLineTool`` steps of an exported CWL workflow call, so
any CWL runner can re-run a DTE workflow: it loads an installed module's component (``core.scale``)
or an application's own (``--bundle`` = the application directory or its bundle), calls it with
JSON inputs and writes the outputs as JSON (``cwl.output.json``).
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer

from dte.adapters.compute.cwl import tool_function
from dte.adapters.compute.worker import ENTRY_POINT_GROUP
from dte.domain.bundle import extract
from dte.domain.cwl import BUNDLE_INPUT, load_tool_text, tool_component
from dte.domain.errors import DteError, InvalidInput, NotFound
from dte.domain.manifest import MANIFEST_FILE, load_manifest_text
from dte.domain.workflows import DEFAULT_OUTPUT, ComponentSpec
from dte.sdk.component import call, components_of

app = typer.Typer(help="Components: run one locally (what exported CWL workflows call)", no_args_is_help=True)
MAX_BUNDLE_BYTES = 1024 * 1024 * 1024


def _installed(ref: str) -> tuple[ComponentSpec, Callable[..., Any]]:
    namespace = ref.split(".", 1)[0]
    for point in entry_points(group=ENTRY_POINT_GROUP, name=namespace):
        module = importlib.import_module(point.value)
        version = point.dist.version if point.dist else "0"
        for spec in components_of(module, namespace, version, f"module:{point.dist.name if point.dist else ''}"):
            if spec.ref == ref:
                return spec, getattr(module, spec.entry.partition(":")[2])
    raise NotFound(f"no installed module provides the component {ref!r}", code="component_not_found")


def _own(ref: str, directory: Path) -> tuple[ComponentSpec, Callable[..., Any]]:
    manifest = load_manifest_text((directory / MANIFEST_FILE).read_bytes())
    for path in manifest.tools:
        spec = tool_component(load_tool_text((directory / path).read_bytes(), path), path, manifest.version)
        if spec.ref == ref:
            return spec, tool_function(spec, directory)
    sys.path.insert(0, str(directory))
    for module_name in manifest.components:
        module = importlib.import_module(module_name)
        for spec in components_of(module, None, manifest.version, "application"):
            if spec.ref == ref:
                return spec, getattr(module, spec.entry.partition(":")[2])
    raise NotFound(f"{manifest.name} {manifest.version} has no component {ref!r}", code="component_not_found")


def resolve(ref: str, bundle: Path | None, scratch: Path) -> tuple[ComponentSpec, Callable[..., Any]]:
    """A component's spec and callable: ``namespace.name`` from the installed modules, a plain name
    from the application at ``bundle`` (a directory, or a bundle unpacked into ``scratch``)."""
    if "." in ref:
        return _installed(ref)
    if bundle is None:
        raise InvalidInput(f"{ref!r} is an application's component: give the application with --bundle DIR")
    if bundle.is_dir():
        return _own(ref, bundle)
    extract(bundle.read_bytes(), scratch, MAX_BUNDLE_BYTES)
    return _own(ref, scratch)


@app.command("exec")
def component_exec(
    ref: Annotated[str, typer.Argument(help="component: namespace.name (installed) or name (with --bundle)")],
    inputs: Annotated[Path, typer.Option("--inputs", help="JSON object of input values")],
    bundle: Annotated[Path | None, typer.Option("--bundle", help="application directory or bundle (tar.gz)")] = None,
    outputs: Annotated[Path | None, typer.Option("--outputs", help="write outputs here (default: stdout)")] = None,
) -> None:
    """Call a component once with JSON inputs and write its outputs as a JSON object."""
    given = json.loads(inputs.read_text())
    if not isinstance(given, dict):
        raise InvalidInput(f"{inputs} must hold a JSON object of input values")
    with tempfile.TemporaryDirectory(prefix="dte-bundle-") as scratch:
        spec, func = resolve(ref, bundle, Path(scratch))
        if BUNDLE_INPUT not in spec.inputs:  # the exported workflow's Directory input is not the component's
            given.pop(BUNDLE_INPUT, None)
        unknown = sorted(set(given) - set(spec.inputs))
        if unknown:
            raise InvalidInput(f"{ref} has no input {', '.join(unknown)}; its inputs: "
                               f"{', '.join(spec.inputs) or 'none'}")
        names = tuple(spec.outputs) if list(spec.outputs) != [DEFAULT_OUTPUT] else ()
        produced = call(func, given, names)
    try:
        text = json.dumps(produced, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DteError(f"{ref} returned a value that is not JSON ({exc}); only JSON values cross CWL steps",
                       "output_not_json") from None
    if outputs is None:
        typer.echo(text)
    else:
        outputs.write_text(text + "\n")
