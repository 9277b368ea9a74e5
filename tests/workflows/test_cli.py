"""The run commands against a real ``dte serve`` in embedded mode (its own Dask LocalCluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DTE = str(Path(sys.executable).with_name("dte"))
pytestmark = pytest.mark.e2e


def dte(env: dict[str, str], cwd: Path, *args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
    """Run the CLI; ``code`` is the exit code it must end with (``None``: any)."""
    result = subprocess.run([DTE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert code is None or result.returncode == code, f"dte {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_run_the_bundled_thermostat_on_the_embedded_cluster(served: dict[str, str], tmp_path: Path) -> None:
    env, cwd = served, tmp_path
    modules = json.loads(dte(env, cwd, "module", "list", "--json").stdout)
    assert {"core.scale", "core.noop"} <= {m["ref"] for m in modules}
    dte(env, cwd, "project", "create", "lab")
    dte(env, cwd, "twin", "create", "lab/room", "--app", "thermostat", "--param", "room=kitchen", "--activate")
    dte(env, cwd, "twin", "set", "lab/room", "reported", "temperature={value: 18.0}")

    run = json.loads(dte(env, cwd, "run", "start", "lab/room", "control", "--wait", "--json").stdout)
    assert run["status"] == "succeeded", run
    assert run["outputs"]["heater_command"]["value"] == 75.0  # gain 25 % per Cel x (21 - 18) Cel
    assert run["outputs"]["overheat"]["value"] is False
    assert dte(env, cwd, "run", "output", run["id"], "heater_command").stdout.strip() == "75.0"

    shown = dte(env, cwd, "run", "start", "lab/room", "control", "--wait")  # the progress bar, for people
    assert "succeeded" in shown.stdout and "command" in shown.stdout

    assert "verified" in dte(env, cwd, "run", "verify", run["id"]).stdout
    prov = json.loads(dte(env, cwd, "run", "provenance", run["id"]).stdout)
    assert f"run:{run['id']}/command" in prov["activity"]
    listed = json.loads(dte(env, cwd, "run", "list", "--twin", "lab/room", "--json").stdout)
    assert len(listed) == 2 and listed[1]["id"] == run["id"]
    triggers = json.loads(dte(env, cwd, "trigger", "list", "lab/room", "--json").stdout)
    assert triggers[0]["name"] == "on-temperature" and triggers[0]["kind"] == "event"

    refused = dte(env, cwd, "run", "start", "lab/room", "nope", code=1)
    assert "workflow_not_found" in refused.stderr and "control" in refused.stderr


def test_make_run_demo_a_simulated_twin_triggers_runs(tmp_path: Path) -> None:
    """What ``make run`` starts on a fresh machine: the engine, the bundled thermostat and a simulated
    physical twin whose temperatures trigger the control workflow."""
    import os
    import time

    import httpx
    from helpers import REPO, free_port

    port = free_port()
    env = {**os.environ, "DTE_DATA_DIR": str(tmp_path / ".dte"), "DTE_PORT": str(port),
           "DTE_MQTT_PORT": str(free_port()), "DTE_BUNDLED_APPS_DIR": str(REPO / "apps"),
           "DTE_URL": f"http://127.0.0.1:{port}", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for name in ("DTE_TOKEN", "DTE_DATABASE_URL", "DTE_OBJECTS_URL", "DTE_ADMIN_TOKEN", "DTE_DASK_SCHEDULER"):
        env.pop(name, None)
    log = (tmp_path / "serve.log").open("w")
    engine = subprocess.Popen([DTE, "serve", "--simulate"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        runs: list = []
        while time.monotonic() < deadline and not runs:
            time.sleep(1)
            listed = dte(env, tmp_path, "run", "list", "--twin", "demo/thermostat-1", "--json", code=None)
            runs = json.loads(listed.stdout) if listed.returncode == 0 else []
        assert runs, (tmp_path / "serve.log").read_text()[-3000:]
        assert runs[-1]["trigger"]["name"] == "on-temperature" and runs[-1]["created_by"] == "dte-trigger"
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        engine.terminate()
        engine.wait(timeout=30)
