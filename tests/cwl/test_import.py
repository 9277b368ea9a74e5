"""An application whose workflow runs an imported CWL tool (``wc -w``) and then a Python component:
built, published, checked at publish time, and run end to end by the engine on a Dask cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import compiled, cwltool, run_cwl
from helpers import ADMIN_TOKEN
from starlette.testclient import TestClient
from test_tools import WC

from dte.client import ApiError, Client
from dte.client import calls as c
from dte.domain.bundle import COMPONENT_INDEX, pack_directory
from dte.domain.cwl import BUNDLE_INPUT, dump_document, workflow_document
from dte.domain.errors import InvalidInput
from dte.domain.manifest import load_manifest_text
from dte.domain.workflows import ComponentIndex, ComponentSpec
from dte.sdk.build import component_index

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

MANIFEST = """\
name: words
version: 1.0.0
summary: count the words of a text with wc, then judge the count in Python
parameters:
  type: object
  properties:
    limit: {type: integer, default: 3}
components: [words.logic]
tools: [tools/wc.cwl, tools/nap.cwl]
workflows:
  count:
    inputs:
      text: {schema: {type: string}}
    steps:
      wc: {component: wc, in: {text: {input: text}}}
      verdict: {component: judge, in: {count: {step: wc.count}, limit: {param: limit}}}
    outputs: {count: wc.count, verdict: verdict}
  nap:
    steps:
      nap: {component: nap, in: {seconds: 60}, timeout: 1}
"""

NAP = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: sleep
inputs:
  seconds: {type: int, inputBinding: {position: 1}}
outputs: {}
"""

LOGIC = '''\
from dte.sdk import component


@component
def judge(count: int, limit: int) -> str:
    """'long' above the limit."""
    return "long" if count > limit else "short"
'''


@pytest.fixture
def words(tmp_path: Path) -> Path:
    directory = tmp_path / "words"
    (directory / "tools").mkdir(parents=True)
    (directory / "words").mkdir()
    (directory / "dte-app.yaml").write_text(MANIFEST)
    (directory / "tools" / "wc.cwl").write_text(WC)
    (directory / "tools" / "nap.cwl").write_text(NAP)
    (directory / "words" / "__init__.py").write_text("")
    (directory / "words" / "logic.py").write_text(LOGIC)
    return directory


def test_the_build_adds_the_tools_to_the_component_index(words: Path) -> None:
    index = ComponentIndex.model_validate_json(component_index(words) or b"")
    specs = {s.ref: s for s in index.components}
    assert set(specs) == {"wc", "nap", "judge"}
    assert specs["wc"].tool == "tools/wc.cwl" and specs["wc"].entry == "dte.adapters.compute.cwl:run_tool"
    assert specs["judge"].tool is None


def test_the_build_refuses_an_unsupported_tool(words: Path) -> None:
    (words / "tools" / "wc.cwl").write_text(WC.replace("requirements:\n", "requirements:\n  ShellCommandRequirement: {}\n"))
    with pytest.raises(InvalidInput) as caught:
        component_index(words)
    assert caught.value.errors[0].pointer == "/tools/wc.cwl/requirements/ShellCommandRequirement"
    (words / "tools" / "wc.cwl").write_text("cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: wc\n"
                                            "inputs: {}\noutputs: {}\nbogus: 1\n")
    with pytest.raises(InvalidInput, match="not a valid CWL document"):
        component_index(words)


def test_an_application_with_a_tool_exports_and_runs_with_cwltool(installed: dict[str, ComponentSpec], words: Path,
                                                                   tmp_path: Path) -> None:
    """Round trip: the imported tool, exported again as a step that 'dte component exec' runs."""
    own = ComponentIndex.model_validate_json(component_index(words) or b"").components
    manifest = load_manifest_text(MANIFEST)
    document = workflow_document(compiled(manifest, {**installed, **{c.ref: c for c in own}})["count"],
                                 manifest.parameters)
    path = tmp_path / "count.cwl"
    path.write_text(dump_document(document, "yaml"))
    assert cwltool("--validate", path, cwd=tmp_path).returncode == 0
    job = {"text": "one two three four", BUNDLE_INPUT: {"class": "Directory", "path": str(words)}}
    assert run_cwl(path, job, tmp_path) == {"count": 4, "verdict": "long"}


def _hand_built(words: Path) -> bytes:
    """A bundle whose index was built before its tool changed (what a stale or forged index looks like)."""
    index = component_index(words)
    assert index is not None
    (words / "tools" / "wc.cwl").write_text(WC.replace("inputs:\n", "requirements:\n  - class: InlineJavascriptRequirement\n"
                                                       "inputs:\n", 1).replace("requirements:\n  ToolTimeLimit", "hints:\n  ToolTimeLimit"))
    return pack_directory(words, {COMPONENT_INDEX: index})


def test_publish_refuses_a_tool_the_engine_cannot_run(admin: Client, words: Path) -> None:
    admin.project_create("lab")
    with pytest.raises(ApiError) as caught:
        admin.send(c.app_publish("lab", _hand_built(words)))
    assert (caught.value.status, caught.value.code) == (422, "invalid_tool")
    pointers = [e["pointer"] for e in caught.value.errors]
    assert "/tools/wc.cwl/requirements/0" in pointers, caught.value.errors
    assert admin.app_search().items == []  # nothing was published


def _run(engine: TestClient, twin: str, workflow: str, inputs: dict[str, Any], timeout: float = 180) -> dict[str, Any]:
    """Start a run and wait for it. Through the engine's own TestClient: its event loop lives as long
    as the engine, so the run's background task does too (a request-scoped client's loop does not)."""
    started = engine.post("/api/v1/runs", headers=AUTH, json={"twin": twin, "workflow": workflow, "inputs": inputs})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + timeout
    while True:
        run = engine.get(f"/api/v1/runs/{started.json()['id']}", headers=AUTH).json()
        if run["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


@pytest.mark.e2e
def test_a_cwl_tool_step_then_a_python_step_run_on_dask(engine: TestClient, admin: Client, words: Path) -> None:
    admin.project_create("lab")
    admin.app_publish("lab", words)
    twin = admin.twin_create("lab", "essay", "words", parameters={"limit": 3}, status="active")
    run = _run(engine, twin.id, "count", {"text": "the quick brown fox\njumps\n"})
    assert run["status"] == "succeeded", json.dumps(run, indent=1)
    outputs = {name: engine.get(f"/api/v1/runs/{run['id']}/outputs/{name}", headers=AUTH).json()
               for name in ("count", "verdict")}
    assert outputs == {"count": 5, "verdict": "long"}
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["wc"]["component"] == "wc" and steps["wc"]["status"] == "succeeded"
    napped = _run(engine, twin.id, "nap", {})  # the step's timeout stops the program
    assert napped["status"] == "failed" and "timed out after 1 s" in napped["steps"][0]["error"], napped
