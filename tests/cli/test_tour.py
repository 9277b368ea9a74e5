"""The README tour, command by command, against a real ``dte serve`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import free_port

DTE = str(Path(sys.executable).with_name("dte"))
pytestmark = pytest.mark.e2e


def dte(env: dict[str, str], cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DTE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    if ok and result.returncode != 0:
        pytest.fail(f"dte {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_readme_tour(served: dict[str, str], tmp_path: Path) -> None:
    env, cwd = served, tmp_path
    assert "DTE_TOKEN" not in env  # the CLI finds the local engine's admin token itself
    assert json.loads(dte(env, cwd, "--json", "whoami").stdout)["username"] == "admin"
    apps = json.loads(dte(env, cwd, "app", "list", "--json").stdout)
    assert [a["name"] for a in apps] == ["thermostat"] and apps[0]["visibility"] == "public"

    dte(env, cwd, "project", "create", "lab", "--title", "My lab")
    dte(env, cwd, "app", "init", "river-gauge")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "river-gauge"],
                           cwd=cwd, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout
    published = json.loads(dte(env, cwd, "app", "publish", "river-gauge", "--project", "lab", "--json").stdout)
    assert published["created"] is True and published["version"]["version"] == "0.1.0"
    again = json.loads(dte(env, cwd, "app", "publish", "river-gauge", "--project", "lab", "--json").stdout)
    assert again["created"] is False

    twin = json.loads(dte(env, cwd, "twin", "create", "lab/gauge-1", "--app", "river-gauge",
                          "--param", "site=Bridge", "--json").stdout)
    assert twin["parameters"] == {"site": "Bridge", "threshold": 30}
    dte(env, cwd, "twin", "set", "lab/gauge-1", "desired", "sampling_seconds=60")
    time.sleep(0.05)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    dte(env, cwd, "twin", "set", "lab/gauge-1", "desired", "sampling_seconds=5")

    now = json.loads(dte(env, cwd, "twin", "state", "lab/gauge-1", "--json").stdout)
    assert (now["revision"], now["desired"]) == (3, {"sampling_seconds": 5})
    then = json.loads(dte(env, cwd, "twin", "state", "lab/gauge-1", "--as-of", between, "--json").stdout)
    assert (then["revision"], then["desired"]) == (2, {"sampling_seconds": 60})
    history = json.loads(dte(env, cwd, "twin", "history", "lab/gauge-1", "--json").stdout)
    assert [h["revision"] for h in history] == [3, 2, 1]

    refused = dte(env, cwd, "twin", "set", "lab/gauge-1", "desired", "sampling_seconds=0", ok=False)
    assert refused.returncode == 1 and "/desired/sampling_seconds" in refused.stderr
    stale = dte(env, cwd, "twin", "set", "lab/gauge-1", "desired", "sampling_seconds=9", "--if-revision", "2", ok=False)
    assert stale.returncode == 1 and "412" in stale.stderr
    assert json.loads(dte(env, cwd, "twin", "state", "lab/gauge-1", "--json").stdout)["revision"] == 3

    dte(env, cwd, "twin", "set", "lab/gauge-1", "reported", "temperature={value: 31.5}")
    dte(env, cwd, "twin", "activate", "lab/gauge-1")
    run = json.loads(dte(env, cwd, "run", "start", "lab/gauge-1", "check", "--wait", "--json").stdout)
    assert run["status"] == "succeeded" and run["outputs"]["exceedance"]["value"] is True
    assert "verified" in dte(env, cwd, "run", "verify", run["id"]).stdout
    assert json.loads(dte(env, cwd, "run", "provenance", run["id"]).stdout)["activity"]
    assert "compare" in dte(env, cwd, "run", "logs", run["id"]).stdout

    dte(env, cwd, "app", "pull", "river-gauge", "--version", "0.1.0", "--to", "pulled")
    assert (cwd / "pulled" / "dte-app.yaml").read_text() == (cwd / "river-gauge" / "dte-app.yaml").read_text()


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = {**os.environ, "DTE_DATABASE_URL": "postgresql://dte:s3cret@db.example:5432/dte",
           "DTE_ADMIN_TOKEN": "dte_pat_" + "x" * 40, "DTE_DATA_DIR": str(tmp_path)}
    out = dte(env, tmp_path, "config", "show", "--json").stdout
    shown = json.loads(out)
    assert shown["database_url"] == "postgresql://dte:***@db.example:5432/dte"
    assert shown["admin_token"] == "***"
    assert "s3cret" not in out and "x" * 40 not in out


def test_unreachable_engine_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "DTE_URL": f"http://127.0.0.1:{free_port()}", "DTE_TOKEN": "dte_pat_x"}
    result = dte(env, tmp_path, "twin", "list", ok=False)
    assert result.returncode == 1 and "cannot reach the engine" in result.stderr
    assert "Traceback" not in result.stderr
