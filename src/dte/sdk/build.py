"""Build step of an application bundle: the signatures of its own components (``dte-components.json``).

The application's code is imported here, on the developer's machine, in a child process (a fresh
interpreter with the application directory first on ``sys.path``), so the engine can check
workflows against the signatures without ever importing the code itself.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from dte.domain.bundle import COMPONENT_INDEX, pack_directory
from dte.domain.cwl import load_tool_text, tool_component
from dte.domain.errors import FieldError, InvalidInput
from dte.domain.manifest import MANIFEST_FILE, AppManifest, load_manifest_text
from dte.domain.workflows import ComponentIndex, ComponentSpec


def describe_directory(directory: Path) -> ComponentIndex:
    """Import the manifest's ``components`` modules from ``directory`` and describe their components.
    Runs in this process: call :func:`component_index` for the isolated version."""
    from dte.sdk.component import components_of

    manifest = load_manifest_text((directory / MANIFEST_FILE).read_bytes())
    sys.path.insert(0, str(directory))
    specs: list[ComponentSpec] = []
    for module_name in manifest.components:
        module = importlib.import_module(module_name)
        specs += components_of(module, None, manifest.version, "application")
    return ComponentIndex(components=specs)


def tool_components(directory: Path, manifest: AppManifest) -> list[ComponentSpec]:
    """The components of the manifest's CWL tools: each file checked against the CWL schema by
    cwl-utils, then mapped (and its unsupported features refused) by :mod:`dte.domain.cwl`."""
    from cwl_utils.parser import load_document_by_yaml
    from schema_salad.exceptions import SchemaSaladException

    specs = []
    for i, path in enumerate(manifest.tools):
        file = directory / path
        if not file.is_file():
            raise InvalidInput(f"the manifest lists the CWL tool {path}, which does not exist", code="invalid_tool",
                               errors=[FieldError(f"/tools/{i}", f"no file {path}")])
        document = load_tool_text(file.read_bytes(), path)
        try:
            load_document_by_yaml(document, file.resolve().as_uri())
        except SchemaSaladException as exc:
            raise InvalidInput(f"{path} is not a valid CWL document: {exc}", code="invalid_tool",
                               errors=[FieldError(f"/{path}", str(exc).strip().splitlines()[-1])]) from None
        specs.append(tool_component(document, path, manifest.version, f"/{path}"))
    return specs


def component_index(directory: Path) -> bytes | None:
    """The canonical ``dte-components.json`` for an application directory, or ``None`` when its
    manifest names no component modules and no CWL tools."""
    manifest = load_manifest_text((directory / MANIFEST_FILE).read_bytes())
    if not manifest.components and not manifest.tools:
        return None
    index = ComponentIndex(components=tool_components(directory, manifest))
    if manifest.components:
        done = subprocess.run([sys.executable, "-m", "dte.sdk.build", str(directory.resolve())],
                              capture_output=True, text=True, cwd=directory, timeout=300)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise InvalidInput(f"cannot describe the components of {directory}: {last}", code="invalid_components")
        described = ComponentIndex.model_validate_json(done.stdout).components
        index = ComponentIndex(components=[*described, *index.components])
    return (json.dumps(index.model_dump(mode="json", by_alias=True, exclude_none=True), indent=1, sort_keys=True)
            + "\n").encode()


def build_bundle(directory: Path) -> bytes:
    """The bundle ``dte app publish`` uploads: the directory plus its generated component index."""
    index = component_index(directory)
    return pack_directory(directory, {COMPONENT_INDEX: index} if index is not None else None)


if __name__ == "__main__":
    found = describe_directory(Path(sys.argv[1]))
    print(found.model_dump_json(by_alias=True, exclude_none=True))
