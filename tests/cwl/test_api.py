"""The workflow-definition API, its SDK methods and the 'dte workflow' commands, on SQLite and
PostgreSQL: summaries, compiled definitions, CWL export, and the catalogue's access rules."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import cwltool
from helpers import REPO, client_for
from starlette.testclient import TestClient
from typer.testing import CliRunner

from dte.cli.common import state
from dte.cli.main import app as cli
from dte.client import ApiError, Client

THERMOSTAT = REPO / "apps" / "thermostat"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def fails(status: int, code: str, call: object, *args: object, **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


@pytest.fixture
def published(admin: Client, app_dir: Path) -> Client:
    """Project 'lab' with the thermo test application (private) and the bundled thermostat."""
    admin.project_create("lab")
    admin.app_publish("lab", app_dir)
    admin.app_publish("lab", THERMOSTAT)
    return admin


def test_list_show_and_export(published: Client, tmp_path: Path) -> None:
    [summary] = published.workflow_list("thermo")
    assert (summary.name, summary.version, summary.description) == ("control", "1.0.0", "compute heater power")
    assert [(s.name, s.component, s.upstream) for s in summary.steps] == [
        ("error", "core.scale", []), ("power", "core.scale", ["error"])]
    assert summary.outputs == {"power": "power.result"} and set(summary.inputs) == {"gain"}

    shown = published.workflow_get("thermo", "control", "1.0.0")
    assert shown.sha256 == summary.sha256
    assert shown.definition["workflow"] == "control" and len(shown.definition["steps"]) == 2

    text = published.workflow_cwl("thermostat", "control")
    document = yaml.safe_load(text)
    assert text.startswith("#!/usr/bin/env cwl-runner\n")
    assert (document["cwlVersion"], document["class"]) == ("v1.2", "Workflow")
    assert document["dte:sha256"] == published.workflow_list("thermostat")[0].sha256
    as_json = json.loads(published.workflow_cwl("thermostat", "control", "1.0.0", fmt="json"))
    assert as_json == document
    (tmp_path / "control.cwl").write_text(text)
    done = cwltool("--validate", tmp_path / "control.cwl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_bad_requests_are_problems(published: Client, engine: TestClient) -> None:
    fails(404, "workflow_not_found", published.workflow_get, "thermo", "nothing")
    fails(404, "workflow_not_found", published.workflow_cwl, "thermo", "nothing")
    fails(404, "version_not_found", published.workflow_list, "thermo", "9.9.9")
    fails(404, "application_not_found", published.workflow_list, "nothing")
    error = fails(422, "invalid_input", published.workflow_cwl, "thermo", "control", fmt="xml")
    assert error.errors[0]["pointer"] == "/format" and error.errors[0]["location"] == "query"
    response = engine.get("/api/v1/applications/thermo/versions/latest/workflows")
    assert response.status_code == 401


def test_access_follows_the_catalogue(published: Client, engine: TestClient) -> None:
    published.user_create("eve")
    outsider = client_for(engine, published.token_create("t", ["read"], username="eve").secret)
    fails(404, "application_not_found", outsider.workflow_list, "thermo")  # private: not even its existence
    fails(404, "application_not_found", outsider.workflow_cwl, "thermo", "control")
    published.app_set_visibility("thermo", "public")
    assert [w.name for w in outsider.workflow_list("thermo")] == ["control"]
    assert outsider.workflow_get("thermo", "control").definition["application"] == "thermo"


def _json(output: str) -> Any:
    """The command's JSON, without the in-process engine's request log lines around it."""
    return json.loads("\n".join(line for line in output.splitlines() if not LOG_LINE.match(line)))


def test_cli_list_show_export(published: Client, tmp_path: Path) -> None:
    state._client = published  # the CLI's client, wired to the in-process engine
    try:
        runner = CliRunner()
        listed = runner.invoke(cli, ["workflow", "list", "thermo@1.0.0", "--json"])
        assert listed.exit_code == 0, listed.output
        [summary] = _json(listed.output)
        assert summary["name"] == "control" and summary["inputs"]["gain"]["schema"] == {"type": "number"}
        summary_sha = summary["sha256"]
        table = runner.invoke(cli, ["workflow", "list", "thermo"], env={"COLUMNS": "200"})
        assert table.exit_code == 0, table.output
        assert "error -> power" in table.output and summary_sha[:16] in table.output
        record = runner.invoke(cli, ["workflow", "show", "thermo@1.0.0", "control"], env={"COLUMNS": "200"})
        assert record.exit_code == 0 and summary_sha in record.output, record.output
        shown = runner.invoke(cli, ["workflow", "show", "thermostat", "control", "--json"])
        assert shown.exit_code == 0, shown.output
        assert _json(shown.output)["definition"]["application"] == "thermostat"
        target = tmp_path / "thermostat.cwl"
        exported = runner.invoke(cli, ["workflow", "export", "thermostat", "control", "-o", str(target)])
        assert exported.exit_code == 0, exported.output
        assert yaml.safe_load(target.read_text())["class"] == "Workflow"
        printed = runner.invoke(cli, ["workflow", "export", "thermo", "control", "--format", "json"])
        assert _json(printed.output)["cwlVersion"] == "v1.2"
    finally:
        state._client = None
        state.json = False
