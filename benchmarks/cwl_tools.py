"""What CWL costs at the edges of the workflow engine, each against its peer in the same run:

- ``runner``: one call of an imported tool (``wc -w`` on a text) through DTE's worker-side runner
  (scratch directory, staging, command line, output collection) vs the bare ``subprocess.run`` of
  the same program on the same text;
- ``exec``: one step of an exported workflow as a CWL runner executes it - ``dte component exec``
  in a fresh process - vs calling the same component in-process (``dte.sdk.component.call``);
- ``cwltool``: the exported one-step workflow run by cwltool vs the ``dte component exec`` process
  it starts (cwltool's own overhead per workflow).

Medians of several repetitions. Run: ``python -m benchmarks.cwl_tools [--repeat 20]``; writes
``benchmarks/results/cwl_tools.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dte.adapters.compute.cwl import run
from dte.domain.cwl import dump_document, workflow_document
from dte.domain.manifest import load_manifest_text
from dte.domain.workflows import ComponentSpec, compile_application

RESULTS = Path(__file__).with_name("results") / "cwl_tools.json"
BIN = Path(sys.executable).parent
TEXT = "the quick brown fox jumps over the lazy dog\n" * 200
WC = {"cwlVersion": "v1.2", "class": "CommandLineTool", "baseCommand": ["wc", "-w"], "stdin": "$(inputs.text.path)",
      "inputs": {"text": "File"}, "stdout": "count.txt",
      "outputs": {"count": {"type": "int", "outputBinding": {"glob": "count.txt", "loadContents": True,
                                                             "outputEval": "$(self[0].contents)"}}}}
MANIFEST = """\
name: bench
version: 1.0.0
summary: one core.scale step
workflows:
  one:
    inputs: {x: {schema: {type: number}}}
    steps: {scaled: {component: core.scale, in: {value: {input: x}, factor: 2}}}
    outputs: {y: scaled}
"""


def median_ms(action: Callable[[], Any], repeat: int) -> float:
    action()  # warm caches (imports, page cache) before measuring
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bare_wc(folder: Path) -> None:
    path = folder / "text"
    path.write_text(TEXT)
    with path.open("rb") as stdin:
        subprocess.run(["wc", "-w"], stdin=stdin, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    from dte.services.components import describe_host

    components: dict[str, ComponentSpec] = {c.ref: c for c in describe_host()}
    workflow = compile_application(load_manifest_text(MANIFEST), components)["one"]
    from dte.components.core import scale
    from dte.sdk.component import call

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        assert run(WC, {"text": TEXT}) == {"count": 1800}
        rows.append({"case": "runner", "dte_ms": median_ms(lambda: run(WC, {"text": TEXT}), args.repeat),
                     "peer": "bare subprocess.run(wc -w)", "peer_ms": median_ms(lambda: bare_wc(root), args.repeat)})
        (root / "in.json").write_text(json.dumps({"value": 3, "factor": 2}))
        command = [str(BIN / "dte"), "component", "exec", "core.scale", "--inputs", str(root / "in.json")]
        rows.append({"case": "exec", "dte_ms": median_ms(lambda: subprocess.run(command, capture_output=True,
                                                                                  check=True), args.repeat),
                     "peer": "in-process call()", "peer_ms": median_ms(lambda: call(scale, {"value": 3, "factor": 2}, ()),
                                                                       args.repeat)})
        (root / "one.cwl").write_text(dump_document(workflow_document(workflow), "yaml"))
        (root / "job.yml").write_text(yaml.safe_dump({"x": 3}))
        cwl = [str(BIN / "cwltool"), "--quiet", "--outdir", str(root / "out"), str(root / "one.cwl"),
               str(root / "job.yml")]
        repeat = max(3, args.repeat // 4)
        rows.append({"case": "cwltool", "dte_ms": median_ms(lambda: subprocess.run(cwl, capture_output=True, env=env,
                                                                                     check=True), repeat),
                     "peer": "dte component exec alone", "peer_ms": rows[1]["dte_ms"]})
    for row in rows:
        row["ratio"] = round(row["dte_ms"] / row["peer_ms"], 2) if row["peer_ms"] else None
    print(f"{'case':<8} {'DTE (ms)':>10} {'peer (ms)':>10} {'ratio':>8}  peer")
    for row in rows:
        print(f"{row['case']:<8} {row['dte_ms']:>10.2f} {row['peer_ms']:>10.3f} {row['ratio']:>8}  {row['peer']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "cwl_tools", "repeat": args.repeat, "python": sys.version.split()[0],
                                   "machine": platform.machine(), "cpus": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
