"""Helpers of the CWL tests: compile applications locally, and run cwltool as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The root conftest's engine settings; tests marked e2e get the session's Dask cluster."""
    if not request.node.get_closest_marker("e2e"):
        return settings
    return settings.model_copy(update={"dask_scheduler": request.getfixturevalue("dask_scheduler")})
