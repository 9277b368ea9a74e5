"""Helpers of the CWL tests: compile applications locally, and run cwltool as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port

from dte.domain.manifest import AppManifest
from dte.domain.workflows import CompiledWorkflow, ComponentSpec
from dte.settings import Settings

BIN = Path(sys.executable).parent


def cwltool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """cwltool with this virtualenv first on PATH, so the exported tools find ``dte``."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "cwltool"), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300, check=False)


def run_cwl(document: Path, job: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """Run a CWL document with cwltool and return its output object."""
    (cwd / "job.json").write_text(json.dumps(job))
    done = cwltool("--quiet", "--outdir", cwd / "out", document, cwd / "job.json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def installed() -> dict[str, ComponentSpec]:
    """The installed modules' components, described as the engine describes them."""
    from dte.services.components import describe_host

    return {c.ref: c for c in describe_host()}


def compiled(manifest: AppManifest, components: dict[str, ComponentSpec]) -> dict[str, CompiledWorkflow]:
    from dte.domain.workflows import compile_application

    return compile_application(manifest, components)


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``dask scheduler`` and one ``dask worker`` process for this session (the engine connects to
    it as to any external cluster)."""
    from distributed import Client as DaskClient

    address = f"tcp://127.0.0.1:{free_port()}"
    logs = tmp_path_factory.mktemp("dask")
    commands = [["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                ["worker", address, "--nthreads", "2", "--no-dashboard", "--resources", "CPU=2", "--name", "cwl"]]
    processes = [subprocess.Popen([str(BIN / "dask"), *command], stdout=(logs / f"{command[0]}.log").open("w"),
                                  stderr=subprocess.STDOUT) for command in commands]
    try:
        with DaskClient(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The root conftest's engine settings; tests marked e2e get the session's Dask cluster."""
    if not request.node.get_closest_marker("e2e"):
        return settings
    return settings.model_copy(update={"dask_scheduler": request.getfixturevalue("dask_scheduler")})
