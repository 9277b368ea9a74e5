"""Import: CWL CommandLineTools as components - the mapping, the refused features, command lines, and
the worker-side runner on real programs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from dte.adapters.compute.cwl import ToolFailed, run
from dte.domain.cwl import command_line, cwl_type, evaluate, expression_problem, port_schema, tool_component
from dte.domain.errors import InvalidInput

WC = """\
cwlVersion: v1.2
class: CommandLineTool
doc: Count the words of a text.
baseCommand: [wc, -w]
stdin: $(inputs.text.path)
requirements:
  ToolTimeLimit: {timelimit: 30}
  ResourceRequirement: {coresMin: 1, ramMin: 64}
inputs:
  text: {type: File, doc: the text}
outputs:
  count:
    type: int
    outputBinding: {glob: count.txt, loadContents: true, outputEval: "$(self[0].contents)"}
stdout: count.txt
"""

SORT = """\
cwlVersion: v1.2
class: CommandLineTool
id: sort-lines
baseCommand: sort
arguments: [{prefix: -t, valueFrom: ",", position: 1}]
inputs:
  lines: {type: File, inputBinding: {position: 3}}
  reverse: {type: boolean, default: false, inputBinding: {prefix: -r, position: 2}}
  key: {type: "int?", inputBinding: {prefix: -k, separate: false, position: 2}}
outputs:
  sorted: stdout
"""


def tool(text: str, **changes: Any) -> dict[str, Any]:
    document = yaml.safe_load(text)
    document.update(changes)
    return document


def refused(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        tool_component(document, "tools/t.cwl", "1.0.0", "/tools/t.cwl")
    assert caught.value.code == "invalid_tool"
    return [(e.pointer, e.detail) for e in caught.value.errors]


def test_a_tool_maps_to_a_component() -> None:
    spec = tool_component(tool(WC), "tools/wc.cwl", "1.2.0")
    assert (spec.ref, spec.version, spec.entry, spec.tool) == ("wc", "1.2.0", "dte.adapters.compute.cwl:run_tool",
                                                               "tools/wc.cwl")
    assert spec.inputs["text"].schema_ == {"type": "string", "x-cwl-type": "File"} and spec.inputs["text"].required
    assert spec.outputs["count"].schema_ == {"type": "integer"}
    assert spec.description == "Count the words of a text."
    assert spec.timeout == 30 and spec.resources is not None and spec.resources.dask() == {"CPU": 1.0}
    sort = tool_component(tool(SORT), "tools/sort.cwl", "1.0.0")
    assert sort.ref == "sort-lines"  # the tool's id wins over its file name
    assert not sort.inputs["reverse"].required and sort.inputs["reverse"].default is False
    assert sort.inputs["key"].schema_ == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert not sort.inputs["key"].required
    assert sort.outputs["sorted"].schema_ == {"type": "string", "x-cwl-type": "File"}


@pytest.mark.parametrize(("changes", "pointer", "words"), [
    ({"requirements": [{"class": "InlineJavascriptRequirement"}]}, "/tools/t.cwl/requirements/0",
     "InlineJavascriptRequirement is not supported"),
    ({"requirements": {"ShellCommandRequirement": {}}}, "/tools/t.cwl/requirements/ShellCommandRequirement",
     "run without a shell"),
    ({"hints": [{"class": "InlineJavascriptRequirement"}]}, "/tools/t.cwl/hints/0", "JavaScript is never evaluated"),
    ({"requirements": [{"class": "DockerRequirement", "dockerPull": "alpine"}]}, "/tools/t.cwl/requirements/0",
     "DockerRequirement is not supported"),
    ({"arguments": ["${ return 1; }"]}, "/tools/t.cwl/arguments/0", "JavaScript expressions"),
    ({"arguments": ["$(inputs.text.path.split('/'))"]}, "/tools/t.cwl/arguments/0", "not a CWL parameter reference"),
    ({"inputs": {"folder": "Directory"}}, "/tools/t.cwl/inputs/folder/type", "'Directory' is not supported"),
    ({"inputs": {"Text": "string"}}, "/tools/t.cwl/inputs/Text", "must be lower case"),
    ({"inputs": {"pair": {"type": {"type": "record", "fields": []}}}}, "/tools/t.cwl/inputs/pair/type",
     "records and Directory are not"),
    ({"inputs": {"x": ["string", "int"]}}, "/tools/t.cwl/inputs/x/type", "unions of several CWL types"),
    ({"requirements": {"EnvVarRequirement": {"envDef": {"N": "$(inputs.text.size * 2)"}}}},
     "/tools/t.cwl/requirements/EnvVarRequirement/envDef/N", "not a CWL parameter reference"),
    ({"inputs": {"text": {"type": "File", "inputBinding": {"position": "first"}}}},
     "/tools/t.cwl/inputs/text/inputBinding/position", "position must be a int"),
    ({"arguments": [{"prefix": 3}]}, "/tools/t.cwl/arguments/0/prefix", "prefix must be a str"),
    ({"baseCommand": [["wc"]]}, "/tools/t.cwl/baseCommand", "a string or a list of strings"),
    ({"stdout": {"x": 1}}, "/tools/t.cwl/stdout", "a file name"),
    ({"successCodes": "0"}, "/tools/t.cwl/successCodes", "a list of integers"),
    ({"class": "Workflow"}, "/tools/t.cwl/class", "only CommandLineTool"),
    ({"cwlVersion": "draft-3"}, "/tools/t.cwl/cwlVersion", "v1.0, v1.1 or v1.2"),
    ({"id": "Bad.Name"}, "/tools/t.cwl/id", "component name 'Bad.Name'"),
])
def test_unsupported_features_are_refused_with_a_pointer(changes: dict[str, Any], pointer: str, words: str) -> None:
    errors = refused(tool(WC, **changes))
    assert any(p == pointer and words in d for p, d in errors), errors


def test_parameter_references_without_javascript() -> None:
    context = {"inputs": {"f": {"class": "File", "path": "/x/a.txt", "basename": "a.txt"}, "n": [1, 2]},
               "self": [{"contents": "7\n"}], "runtime": {"outdir": "/out"}}
    assert evaluate("$(inputs.f.basename)", context) == "a.txt"
    assert evaluate("$(inputs.n)", context) == [1, 2]  # a whole reference keeps its type
    assert evaluate("$(inputs.n.length)", context) == 2
    assert evaluate("$(self[0].contents)", context) == "7\n"
    assert evaluate("$(inputs['f'].path)", context) == "/x/a.txt"
    assert evaluate("out=$(runtime.outdir)/$(inputs.f.basename)", context) == "out=/out/a.txt"
    assert evaluate("$(inputs.missing.path)", context) is None
    assert expression_problem("$(inputs.f.path)") is None
    assert expression_problem("cost: $(1 + 2)")  # JavaScript
    assert expression_problem("${return 1}")


def test_command_line_follows_positions_prefixes_and_separators() -> None:
    document = tool(SORT)
    context = {"inputs": {"lines": {"class": "File", "path": "/in/lines"}, "reverse": True, "key": 2},
               "runtime": {}}
    assert command_line(document, context) == ["sort", "-t", ",", "-k2", "-r", "/in/lines"]
    context["inputs"].update(reverse=False, key=None)
    assert command_line(document, context) == ["sort", "-t", ",", "/in/lines"]
    joined = {"cwlVersion": "v1.2", "class": "CommandLineTool", "baseCommand": ["echo"],
              "inputs": {"words": {"type": "string[]", "inputBinding": {"prefix": "-w", "itemSeparator": ","}},
                         "more": {"type": "string[]", "inputBinding": {"position": 1, "prefix": "--m"}}}}
    assert command_line(joined, {"inputs": {"words": ["a", "b"], "more": ["c", "d"]}, "runtime": {}}) == \
        ["echo", "-w", "a,b", "--m", "c", "d"]


def test_the_runner_runs_real_programs() -> None:
    assert run(tool(WC), {"text": "one two three\nfour\n"}) == {"count": 4}
    assert run(tool(SORT), {"lines": "b,1\na,2\nc,0\n", "reverse": True}) == {"sorted": "c,0\nb,1\na,2\n"}
    assert run(tool(SORT), {"lines": "b,1\na,2\nc,0\n", "key": 2}) == {"sorted": "c,0\nb,1\na,2\n"}
    written = tool(WC, baseCommand=["sh", "-c", 'echo \'{"count": 42}\' > cwl.output.json', "writer"],
                   stdin=None, stdout=None)
    assert run(written, {"text": "ignored"}) == {"count": 42}  # cwl.output.json is the output object
    report = tool(WC, baseCommand=["sh", "-c", 'echo done > r.txt; echo \'{"report": {"class": "File", '
                                   '"location": "r.txt"}}\' > cwl.output.json', "writer"], stdin=None, stdout=None,
                  outputs={"report": "File"})
    assert run(report, {"text": "ignored"}) == {"report": "done\n"}


def test_the_runner_reports_failures() -> None:
    with pytest.raises(ToolFailed, match="exited with code 1"):
        run(tool(WC, baseCommand=["false"]), {"text": "x"})
    with pytest.raises(ToolFailed, match="'no-such-program-here' is not installed"):
        run(tool(WC, baseCommand=["no-such-program-here"]), {"text": "x"})
    with pytest.raises(ToolFailed, match="is not a int"):
        run(tool(WC, baseCommand=["echo", "many"], stdin=None), {"text": "x"})
    escape = tool(WC, baseCommand=["sh", "-c", 'echo \'{"count": {"class": "File", "path": "/etc/passwd"}}\' '
                                   '> cwl.output.json', "writer"], stdin=None, stdout=None,
                  outputs={"count": "File"})
    with pytest.raises(ToolFailed, match="not in the tool's output directory"):
        run(escape, {"text": "x"})
    with pytest.raises(ToolFailed, match="inside the tool's output directory"):
        run(tool(WC, stdout="../../escaped.txt"), {"text": "x"})
    with pytest.raises(TimeoutError, match="longer than 0.2 s"):
        run(tool(WC, baseCommand=["sleep", "5"], stdin=None), {"text": "x"}, timeout=0.2)


# --- properties --------------------------------------------------------------------------------------------

_SCALAR_SCHEMAS = st.sampled_from([{"type": t} for t in ("number", "integer", "boolean", "string")])
_SCHEMAS = st.recursive(_SCALAR_SCHEMAS, lambda inner: st.builds(lambda items: {"type": "array", "items": items}, inner),
                        max_leaves=4)


@given(_SCHEMAS, st.booleans())
def test_port_types_survive_a_round_trip_through_cwl(schema: dict[str, Any], nullable: bool) -> None:
    """JSON Schema -> CWL type (export) -> JSON Schema (import) keeps the JSON types."""
    given_schema = {**schema, "type": [schema["type"], "null"]} if nullable else schema
    errors: list[Any] = []
    back, optional = port_schema(cwl_type(given_schema), "/x", errors)
    assert not errors and optional == nullable
    assert back == schema


@given(st.text(max_size=60))
def test_any_text_is_either_refused_or_evaluated(text: str) -> None:
    """Whatever a tool author writes, the check and the evaluator agree: a string the check accepts
    evaluates without error (no JavaScript is ever needed)."""
    if expression_problem(text) is None:
        evaluate(text, {"inputs": {}, "self": None, "runtime": {}})


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)
_WORDS = st.text(st.sampled_from("abc-$()[]{}.'0 "), max_size=16)  # parameter references and near misses
_TYPES = st.sampled_from(["string", "int", "File", "File[]", "boolean?", "Directory", "Any", "stdout", "x"]) | _JSON
_BINDINGS = st.fixed_dictionaries({}, optional={"position": st.integers(-2, 2) | _JSON, "prefix": _WORDS | _JSON,
                                                "separate": st.booleans(), "itemSeparator": _WORDS,
                                                "valueFrom": _WORDS | _JSON})
_FIELDS = st.fixed_dictionaries({}, optional={"type": _TYPES, "default": _JSON, "inputBinding": _BINDINGS | _JSON,
                                              "outputBinding": _JSON, "doc": _JSON})
_PORTS = st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True) | st.text(max_size=4),
                         _FIELDS | _TYPES, max_size=3)
_TOOLS = st.fixed_dictionaries(
    {"cwlVersion": st.sampled_from(["v1.2", "v1.2", "v1.0", "draft-2"]),
     "class": st.sampled_from(["CommandLineTool", "CommandLineTool", "x"]),
     "baseCommand": st.lists(_WORDS, min_size=1, max_size=3) | _JSON},
    optional={"arguments": st.lists(_WORDS | _BINDINGS, max_size=3) | _JSON, "stdin": _WORDS | _JSON,
              "stdout": _WORDS | _JSON, "id": _JSON, "inputs": _PORTS | _JSON, "outputs": _PORTS | _JSON,
              "requirements": _JSON, "hints": _JSON})


@given(_TOOLS)
def test_any_tool_document_is_imported_or_refused_cleanly(document: dict[str, Any]) -> None:
    """Whatever a tool file holds, the import gives a component or an InvalidInput with pointers - never
    a crash."""
    try:
        spec = tool_component(document, "tools/t.cwl", "1.0.0", "/tools/t.cwl")
    except InvalidInput as exc:
        assert exc.errors and all(e.pointer.startswith("/tools/t.cwl") for e in exc.errors)
    else:
        assert spec.tool == "tools/t.cwl"
        assert isinstance(command_line(document, {"inputs": {}, "runtime": {}}), list)  # no inputs: still a line
