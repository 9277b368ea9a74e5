"""Export: compiled workflows as CWL v1.2 documents that cwltool validates and runs, calling
``dte component exec`` for every step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import compiled, cwltool, run_cwl
from helpers import REPO, THERMO_MANIFEST
from typer.testing import CliRunner

from dte.cli.main import app as cli
from dte.domain.bundle import pack_directory
from dte.domain.cwl import BUNDLE_INPUT, cwl_type, dump_document, workflow_document
from dte.domain.manifest import load_manifest_text
from dte.domain.workflows import ComponentIndex, ComponentSpec
from dte.sdk.build import component_index

THERMOSTAT = REPO / "apps" / "thermostat"

MULTI_MANIFEST = """\
name: mix
version: 0.1.0
summary: fan-out and fan-in of core components
parameters:
  type: object
  properties:
    offset: {type: number, default: 10}
workflows:
  mix:
    inputs:
      a: {schema: {type: number}}
      values: {schema: {type: array, items: {type: number}}, default: [1, 2, 3]}
    steps:
      total: {component: core.add, in: {a: {input: a}, b: {param: offset}}}
      avg: {component: core.mean, in: {values: {input: values}}}
      both: {component: core.add, in: {a: {step: total}, b: {step: avg}}}
      echo: {component: core.identity, in: {value: {step: both}}}
    outputs: {both: both, echo: echo}
"""


def own_components(directory: Path) -> dict[str, ComponentSpec]:
    data = component_index(directory)
    return {c.ref: c for c in ComponentIndex.model_validate_json(data or b"{}").components}


def export(manifest_text: str, workflow: str, components: dict[str, ComponentSpec], target: Path) -> Path:
    manifest = load_manifest_text(manifest_text)
    document = workflow_document(compiled(manifest, components)[workflow], manifest.parameters)
    path = target / f"{manifest.name}-{workflow}.cwl"
    path.write_text(dump_document(document, "yaml"))
    return path


def validate(path: Path) -> None:
    done = cwltool("--validate", path, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    assert "is valid CWL" in done.stdout + done.stderr
    assert "previously defined" not in done.stderr  # inputs, steps and outputs share one id space


def test_json_schema_types_map_to_cwl_types() -> None:
    assert cwl_type({"type": "number"}) == "double"
    assert cwl_type({"type": "integer"}) == "long"
    assert cwl_type({"type": "boolean"}) == "boolean"
    assert cwl_type({"type": "string", "enum": ["a"]}) == "string"
    assert cwl_type({"type": "array", "items": {"type": "integer"}}) == {"type": "array", "items": "long"}
    assert cwl_type({"type": "array"}) == {"type": "array", "items": "Any"}
    assert cwl_type({"type": ["number", "null"]}) == ["null", "double"]
    assert cwl_type({"anyOf": [{"type": "string"}, {"type": "null"}]}) == ["null", "string"]
    assert cwl_type({"type": "object", "properties": {}}) == "Any"
    assert cwl_type({}) == "Any"
    assert cwl_type({"x-python-type": "ndarray"}) == "Any"


def test_thermo_manifest_exports_validates_and_runs(installed: dict[str, ComponentSpec], tmp_path: Path) -> None:
    path = export(THERMO_MANIFEST, "control", installed, tmp_path)
    validate(path)
    document = json.loads(dump_document(workflow_document(
        compiled(load_manifest_text(THERMO_MANIFEST), installed)["control"]), "json"))
    # workflow input, twin parameter and twin state become workflow inputs; literals step defaults
    assert set(document["inputs"]) == {"gain", "param_setpoint", "state_reported_temperature_value"}
    assert document["steps"]["error"]["in"]["factor"] == {"default": -1}
    assert BUNDLE_INPUT not in document["inputs"]  # only module components: no application code needed
    assert document["steps"]["error"]["run"]["hints"] == [
        {"class": "SoftwareRequirement", "packages": [{"package": "dte"}]}]  # core.* comes with dte itself
    # power = gain * (setpoint - temperature) = 2 * (21 - 19)
    assert run_cwl(path, {"state_reported_temperature_value": 19.0}, tmp_path) == {"power": 4.0}


def test_bundled_thermostat_exports_validates_and_runs(installed: dict[str, ComponentSpec], tmp_path: Path) -> None:
    components = {**installed, **own_components(THERMOSTAT)}
    path = export((THERMOSTAT / "dte-app.yaml").read_text(), "control", components, tmp_path)
    validate(path)
    job = {"state_reported_temperature_value": 19.0, "param_gain": 25, "param_setpoint": 21, "param_overheat": 28,
           BUNDLE_INPUT: {"class": "Directory", "path": str(THERMOSTAT)}}
    assert run_cwl(path, job, tmp_path) == {"heater_command": 50.0, "overheat": False}


def test_multi_step_workflow_exports_validates_and_runs(installed: dict[str, ComponentSpec], tmp_path: Path) -> None:
    path = export(MULTI_MANIFEST, "mix", installed, tmp_path)
    validate(path)
    document = workflow_document(compiled(load_manifest_text(MULTI_MANIFEST), installed)["mix"])
    assert set(document["steps"]) == {"total", "avg", "step_both", "step_echo"}  # outputs keep their names
    assert document["outputs"]["both"]["outputSource"] == "step_both/result"
    assert document["inputs"]["values"] == {"type": {"type": "array", "items": "double"}, "default": [1, 2, 3]}
    # total = 1 + offset (10), avg = mean([1, 2, 3]) = 2, both = 13
    assert run_cwl(path, {"a": 1}, tmp_path) == {"both": 13.0, "echo": 13.0}


# --- dte component exec ----------------------------------------------------------------------------------------

def exec_component(tmp_path: Path, *args: str, inputs: dict[str, object]) -> dict[str, object]:
    (tmp_path / "in.json").write_text(json.dumps(inputs))
    result = CliRunner().invoke(cli, ["component", "exec", *args, "--inputs", str(tmp_path / "in.json"),
                                      "--outputs", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads((tmp_path / "out.json").read_text())


def test_exec_runs_installed_and_application_components(tmp_path: Path) -> None:
    assert exec_component(tmp_path, "core.scale", inputs={"value": 2, "factor": 3}) == {"result": 6.0}
    # an application's component, from its directory and from its bundle
    inputs = {"temperature": 20.0, "setpoint": 21.0, "gain": 10.0, BUNDLE_INPUT: {"class": "Directory"}}
    assert exec_component(tmp_path, "heater_command", "--bundle", str(THERMOSTAT), inputs=inputs) == {"result": 10.0}
    bundle = tmp_path / "thermostat.tar.gz"
    bundle.write_bytes(pack_directory(THERMOSTAT))
    assert exec_component(tmp_path, "overheated", "--bundle", str(bundle),
                          inputs={"temperature": 30.0, "overheat": 28.0}) == {"result": True}


@pytest.mark.parametrize(("args", "inputs", "message"), [
    (["core.scale"], {"value": 1, "bogus": 2}, "core.scale has no input bogus"),
    (["heater_command"], {}, "give the application with --bundle DIR"),
    (["core.nothing"], {}, "no installed module provides the component 'core.nothing'"),
    (["nothing", "--bundle", str(THERMOSTAT)], {}, "thermostat 1.0.0 has no component 'nothing'"),
])
def test_exec_explains_what_is_wrong(tmp_path: Path, args: list[str], inputs: dict[str, object], message: str) -> None:
    (tmp_path / "in.json").write_text(json.dumps(inputs))
    done = subprocess.run([str(Path(sys.executable).with_name("dte")), "component", "exec", *args, "--inputs",
                           str(tmp_path / "in.json")], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert message in " ".join(done.stderr.split()), done.stderr
