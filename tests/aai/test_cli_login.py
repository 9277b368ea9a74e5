"""``dte login`` against a live engine: the browser flow (a scripted browser logs in at the login
page and comes back to the CLI's loopback port), the pasted-code flow, and a pasted token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from dte.cli.main import app as cli

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.e2e

BROWSER = '''\
import sys, httpx
from urllib.parse import parse_qsl, urlsplit
url = sys.argv[1]
with httpx.Client() as http:
    params = dict(parse_qsl(urlsplit(url).query))
    assert http.get(url).status_code == 200
    params.pop("response_type")
    password = __import__("os").environ["LOGIN_PASSWORD"]
    answer = http.post(url.split("?")[0], data={**params, "username": "admin", "password": password})
    assert answer.status_code == 303, answer.text
    back = http.get(answer.headers["location"])
    assert back.status_code == 200 and "Signed in" in back.text
'''


@pytest.fixture
def admin_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DTE_ADMIN_PASSWORD", PASSWORD)
    return PASSWORD


def dte(env: dict[str, str], *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("dte")), *args], env=env, capture_output=True,
                          text=True, timeout=60, **kwargs)  # type: ignore[call-overload]


def stored(env: dict[str, str]) -> dict[str, str]:
    return json.loads((Path(env["XDG_CONFIG_HOME"]) / "dte" / "credentials.json").read_text())


def test_browser_login(admin_password: str, served: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "browser.py"
    script.write_text(BROWSER)
    env = {**served, "BROWSER": f"{sys.executable} {script} %s", "LOGIN_PASSWORD": admin_password,
           "DTE_DATA_DIR": str(tmp_path / "none")}
    result = dte(env, "login")
    assert result.returncode == 0, result.stderr
    assert "logged in to" in result.stdout and "as admin" in result.stdout
    credentials = stored(env)
    assert credentials["token"].startswith("dte_pat_") and admin_password not in json.dumps(credentials)
    assert oct((Path(env["XDG_CONFIG_HOME"]) / "dte" / "credentials.json").stat().st_mode)[-3:] == "600"
    whoami = dte(env, "whoami", "--json")
    assert json.loads(whoami.stdout)["username"] == "admin"
    listed = dte(env, "token", "list", "--json")
    assert any(t["name"].startswith("dte login on ") for t in json.loads(listed.stdout))


def test_pasted_code_login(admin_password: str, served: dict[str, str], tmp_path: Path) -> None:
    env = {**served, "DTE_DATA_DIR": str(tmp_path / "none")}
    process = subprocess.Popen([str(Path(sys.executable).with_name("dte")), "login", "--no-browser"], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None and process.stdin is not None
        line = ""
        while "/oauth2/authorize?" not in line:
            line = process.stderr.readline()
            assert line, "dte login printed no URL"
        url = line.strip()
        params = dict(parse_qsl(urlsplit(url).query))
        params.pop("response_type")
        answer = httpx.post(url.split("?")[0], data={**params, "username": "admin", "password": admin_password})
        assert answer.status_code == 303 and "/oauth2/oob?" in answer.headers["location"]
        page = httpx.get(answer.headers["location"])
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        assert code in page.text
        out, err = process.communicate(code + "\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "as admin" in out and stored(env)["token"].startswith("dte_pat_")


def test_login_with_a_token(served: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("XDG_CONFIG_HOME", "DTE_URL"):
        monkeypatch.setenv(key, served[key])
    monkeypatch.setenv("DTE_DATA_DIR", str(tmp_path / "none"))
    token = (Path(served["DTE_DATA_DIR"]) / "admin.token").read_text().strip()
    runner = CliRunner()
    result = runner.invoke(cli, ["login", "--with-token"], input=token + "\n")
    assert result.exit_code == 0, result.output
    assert stored(served)["token"] == token
    bad = runner.invoke(cli, ["login", "--with-token"], input="dte_pat_wrong\n")
    assert bad.exit_code != 0
    assert os.environ["DTE_URL"] == served["DTE_URL"]
