"""Workflow definitions are checked completely before anything runs; components describe themselves
from their type hints. No cluster needed here."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from helpers import ADMIN_TOKEN, client_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.testclient import TestClient

from dte.client import ApiError
from dte.domain.bundle import COMPONENT_INDEX, pack
from dte.domain.errors import InvalidInput
from dte.domain.workflows import ComponentSpec, WorkflowSpec, compile_workflow
from dte.sdk import component
from dte.sdk.component import call, describe


class Reading(BaseModel):
    value: float
    unit: str = "m"


@component(outputs=("low", "high"), retries=2, timeout=5, cpu=1)
def split(values: list[float], *, threshold: float = 0.5) -> tuple[list[float], list[float]]:
    """Split values at a threshold.

    More text that is not the summary."""
    return [v for v in values if v < threshold], [v for v in values if v >= threshold]


@component
def read(reading: Reading) -> float:
    return reading.value


def spec(func: Any, ref: str) -> ComponentSpec:
    return describe(func, ref, f"tests:{func.__name__}", "1.0.0", "application")


COMPONENTS = {
    "split": spec(split, "split"),
    "read": spec(read, "read"),
    "mean": ComponentSpec.model_validate({"ref": "core.mean", "version": "1", "entry": "m:mean",
                                          "inputs": {"values": {"schema": {"type": "array", "items": {"type": "number"}}}},
                                          "outputs": {"result": {"schema": {"type": "number"}}}}),
    "label": ComponentSpec.model_validate({"ref": "label", "version": "1", "entry": "m:label",
                                           "inputs": {"text": {"schema": {"type": "string"}}},
                                           "outputs": {"result": {"schema": {"type": "string"}}}}),
}
KNOWN = {c.ref: c for c in COMPONENTS.values()}


def compile_yaml(text: str, parameters: dict[str, Any] | None = None) -> Any:
    return compile_workflow("app", "1.0.0", "w", WorkflowSpec.model_validate(yaml.safe_load(text)), KNOWN,
                            parameters or {"type": "object", "properties": {"limit": {"type": "number"}}}, "/workflows/w")


def errors_of(text: str) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        compile_yaml(text)
    assert caught.value.code == "invalid_workflow"
    return {e.pointer: e.detail for e in caught.value.errors}


def test_components_describe_themselves_from_type_hints() -> None:
    described = COMPONENTS["split"]
    assert described.description == "Split values at a threshold."
    assert described.inputs["values"].schema_ == {"type": "array", "items": {"type": "number"}}
    assert described.inputs["threshold"].kind == "parameter" and described.inputs["threshold"].default == 0.5
    assert not described.inputs["threshold"].required and described.inputs["values"].required
    assert set(described.outputs) == {"low", "high"} and described.retries == 2 and described.timeout == 5
    assert described.resources is not None and described.resources.cpu == 1
    assert call(split, {"values": [0.1, 0.9]}, ("low", "high")) == {"low": [0.1], "high": [0.9]}
    assert call(read, {"reading": {"value": 2.5}}, ()) == {"result": 2.5}  # JSON in, model to the function


def test_a_valid_workflow_compiles_in_dependency_order_with_a_stable_hash() -> None:
    text = """
steps:
  avg: {component: core.mean, in: {values: {step: parts.high}}}
  parts: {component: split, in: {values: {input: xs}, threshold: {param: limit}}, retries: 5}
inputs:
  xs: {schema: {type: array, items: {type: number}}}
outputs: {average: avg}
"""
    first = compile_yaml(text)
    assert [s.name for s in first.steps] == ["parts", "avg"]
    assert first.step("parts").retries == 5 and first.step("parts").timeout == 5  # step over component default
    assert first.outputs == {"average": ("avg", "result")}
    assert compile_yaml(text).sha256 == first.sha256
    bumped = dict(KNOWN, split=KNOWN["split"].model_copy(update={"version": "1.0.1"}))
    other = compile_workflow("app", "1.0.0", "w", WorkflowSpec.model_validate(yaml.safe_load(text)), bumped,
                             None, "/workflows/w")
    assert other.sha256 != first.sha256  # a new component version is a new definition


@pytest.mark.parametrize(("text", "pointer", "words"), [
    ("steps: {a: {component: nope}}", "/workflows/w/steps/a/component", "unknown component 'nope'"),
    ("steps: {a: {component: label, in: {text: x, colour: red}}}", "/workflows/w/steps/a/in/colour", "no input"),
    ("steps: {a: {component: label}}", "/workflows/w/steps/a/in/text", "missing input 'text'"),
    ("steps: {a: {component: label, in: {text: {step: b}}}}", "/workflows/w/steps/a/in/text", "no step named 'b'"),
    ("steps: {a: {component: label, in: {text: x}}, b: {component: label, in: {text: {step: a.nope}}}}",
     "/workflows/w/steps/b/in/text", "has no output 'nope'"),
    ("steps: {a: {component: core.mean, in: {values: [1]}}, b: {component: label, in: {text: {step: a}}}}",
     "/workflows/w/steps/b/in/text", "type mismatch: a.result gives number, b.text expects string"),
    ("steps: {a: {component: label, in: {text: {step: b}}}, b: {component: label, in: {text: {step: a}}}}",
     "/workflows/w/steps/a", "form a cycle"),
    ("steps: {a: {component: label, in: {text: 42}}}", "/workflows/w/steps/a/in/text", "is not of type 'string'"),
    ("steps: {a: {component: label, in: {text: {param: nope}}}}", "/workflows/w/steps/a/in/text",
     "no parameter 'nope'"),
    ("steps: {a: {component: label, in: {text: {input: nope}}}}", "/workflows/w/steps/a/in/text",
     "declares no input 'nope'"),
    ("inputs: {n: {schema: {type: number}}}\nsteps: {a: {component: label, in: {text: {input: n}}}}",
     "/workflows/w/steps/a/in/text", "input 'n' is number"),
    ("steps: {a: {component: label, in: {text: x}}}\noutputs: {o: z}", "/workflows/w/outputs/o", "no step named 'z'"),
    ("steps: {a: {component: label, in: {text: {state: /elsewhere}}}}", "/workflows/w/steps/a/in/text",
     "/reported or /desired"),
])
def test_invalid_workflows_name_the_step_and_port(text: str, pointer: str, words: str) -> None:
    found = errors_of(text)
    assert pointer in found, found
    assert words in found[pointer]


def test_every_problem_is_reported_at_once() -> None:
    found = errors_of("steps: {a: {component: nope}, b: {component: label}, c: {component: label, in: {text: 1}}}")
    assert set(found) == {"/workflows/w/steps/a/component", "/workflows/w/steps/b/in/text",
                          "/workflows/w/steps/c/in/text"}


names = st.sampled_from(["a", "b", "c", "d", "e"])
sources = st.one_of(st.builds(lambda s: {"step": s}, names), st.just("text"), st.integers(),
                    st.builds(lambda s: {"step": f"{s}.result"}, names), st.just({"input": "x"}), st.none())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(names, st.fixed_dictionaries({"component": st.sampled_from(["label", "core.mean", "x"]),
                                                     "in": st.dictionaries(st.sampled_from(["text", "values"]),
                                                                           sources, max_size=2)}),
                       min_size=1, max_size=5))
def test_any_step_graph_compiles_or_is_invalid_input(steps: dict[str, Any]) -> None:
    try:
        compiled = compile_workflow("app", "1.0.0", "w", WorkflowSpec.model_validate({"steps": steps}), KNOWN)
    except InvalidInput as exc:
        assert exc.errors and all(e.pointer.startswith("/steps") for e in exc.errors)
        return
    position = {s.name: i for i, s in enumerate(compiled.steps)}
    assert all(position[u] < position[s.name] for s in compiled.steps for u in s.upstream)


# --- through the engine ---------------------------------------------------------------------------------

MANIFEST = """\
name: wfbad
version: 1.0.0
summary: invalid workflows are refused at publish
workflows:
  loop:
    steps:
      a: {component: core.identity, in: {value: {step: b}}}
      b: {component: core.identity, in: {value: {step: a}}}
"""


def test_publishing_an_invalid_workflow_writes_nothing(engine: TestClient) -> None:
    client = client_for(engine, ADMIN_TOKEN)
    client.project_create("lab")
    bundle = pack([("dte-app.yaml", MANIFEST.encode(), False)])
    answer = engine.post("/api/v1/applications", params={"project": "lab"}, content=bundle,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/gzip"})
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_workflow"
    assert answer.json()["errors"][0]["pointer"] == "/workflows/loop/steps/a"
    with pytest.raises(ApiError) as caught:
        client.app_get("wfbad")
    assert caught.value.status == 404


@pytest.mark.parametrize(("index", "code"), [
    (None, "invalid_bundle"),  # the manifest names component modules but the index is missing
    (b"{not json", "invalid_components"),
    (json.dumps({"format": 1, "components": [{"ref": "ns.x", "version": "1", "entry": "m:x"}]}).encode(),
     "invalid_components"),  # an application's own components have no namespace
])
def test_a_bad_component_index_is_refused(engine: TestClient, index: bytes | None, code: str) -> None:
    client_for(engine, ADMIN_TOKEN).project_create("lab")
    manifest = "name: own\nversion: 1.0.0\nsummary: s\ncomponents: [own.steps]\n"
    files = [("dte-app.yaml", manifest.encode(), False)] + ([(COMPONENT_INDEX, index, False)] if index else [])
    answer = engine.post("/api/v1/applications", params={"project": "lab"}, content=pack(files),
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/gzip"})
    assert answer.status_code == 422 and answer.json()["code"] == code


def test_runs_refuse_bad_starts_and_write_nothing(engine: TestClient) -> None:
    from helpers import THERMO_MANIFEST

    client = client_for(engine, ADMIN_TOKEN)
    client.project_create("lab")
    client.project_create("other")
    bundle = pack([("dte-app.yaml", THERMO_MANIFEST.encode(), False)])
    engine.post("/api/v1/applications", params={"project": "lab"}, content=bundle,
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/gzip"})
    twin = client.twin_create("lab", "room", "thermo", parameters={"room": "r"}).id
    client.twin_set_state(twin, "reported", {"temperature": {"value": 20}})
    cases = [
        ({"twin": twin, "workflow": "nope"}, 404, "workflow_not_found", None),
        ({"twin": "ffffffffffffffffffffffffffffffff", "workflow": "control"}, 404, "twin_not_found", None),
        ({"twin": "other/room", "workflow": "control"}, 404, "twin_not_found", None),
        ({"twin": twin, "workflow": "control", "inputs": {"gain": "high"}}, 422, "invalid_inputs", "/inputs/gain"),
        ({"twin": twin, "workflow": "control", "inputs": {"speed": 1}}, 422, "invalid_inputs", "/inputs/speed"),
        ({"twin": twin, "workflow": "Control!"}, 422, "invalid_input", "/workflow"),
        ({"twin": twin}, 422, "invalid_input", "/workflow"),
    ]
    for body, status, code, pointer in cases:
        answer = engine.post("/api/v1/runs", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["code"] == code
        if pointer:
            assert pointer in [e["pointer"] for e in answer.json()["errors"]]
    client.twin_update(twin, {"status": "retired"})
    with pytest.raises(ApiError) as caught:
        client.run_start(twin, "control")
    assert caught.value.status == 409 and caught.value.code == "twin_retired"
    assert client.run_list(project="lab").items == []


# --- workflows built in Python ---------------------------------------------------------------------------

def test_a_workflow_built_in_python_is_the_yaml_one(tmp_path: Any) -> None:
    import shutil

    from helpers import WFAPP

    from dte.domain.manifest import load_manifest_text
    from dte.sdk import Workflow, check_app, save

    flow = Workflow("chain")
    x = flow.input("x", float)
    first = flow.step("first", "double", x=x, factor=flow.param("factor"))
    second = flow.step("second", "double", x=first)
    loud = flow.step("loud", "shout", text="hello")
    flow.output("result", second)
    flow.output("said", loud)
    declared = load_manifest_text((WFAPP / "dte-app.yaml").read_text()).workflows["chain"]
    assert flow.spec() == declared

    app = tmp_path / "app"
    shutil.copytree(WFAPP, app)
    split_flow = Workflow("split-up", description="a literal mapping and a second output")
    parts = split_flow.step("parts", "flaky", marker="m", fail_times={"not": "a source"}, retries=2)
    split_flow.output("first", parts)
    before = (app / "dte-app.yaml").read_text()
    with pytest.raises(InvalidInput):  # fail_times is an integer: the engine's own checks refuse it
        save(app, split_flow)
    bad = Workflow("doubled")
    bad.output("twice", bad.step("twice", split, values=[0.2, 0.7])["high"])
    with pytest.raises(InvalidInput):
        save(app, bad)  # 'split' is not one of this application's components
    assert (app / "dte-app.yaml").read_text() == before  # refused: the file is unchanged
    ok = Workflow("doubled")
    ok.output("value", ok.step("value", "double", x=ok.input("x", float, default=1.5), timeout=5))
    save(app, ok)
    manifest = check_app(app)
    assert manifest.workflows["doubled"].steps["value"].timeout == 5 and "chain" in manifest.workflows
