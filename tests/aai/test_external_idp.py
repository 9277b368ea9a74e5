"""An external OIDC provider in its own process (``oidc-provider-mock``): the engine trusts it by
configuration only, and its users get project roles from their ``groups`` claim."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import GROUPS_RULE
from helpers import ADMIN_TOKEN, free_port, unavailable
from starlette.testclient import TestClient

from dte.api.app import create_app
from dte.settings import Settings

CLIENT = "dte"  # the provider puts the client id in aud; the engine is configured with it as audience
REDIRECT = "http://127.0.0.1:9/callback"
DORA = {"sub": "dora-0001", "preferred_username": "dora", "groups": ["dte:alpha:developer", "unrelated-group"]}


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "idp.log").open("w")
    process = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "-p", str(port),
                                "--user-claims", json.dumps(DORA)], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONWARNINGS": "ignore"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable("oidc-provider-mock did not start: " + (tmp_path / "idp.log").read_text()[-500:])
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def id_token(provider: str, sub: str) -> str:
    """Sign in at the provider as ``sub`` (its login form takes the subject) and redeem the code."""
    response = httpx.post(provider + "/oauth2/authorize", data={"sub": sub}, params={
        "client_id": CLIENT, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid profile",
        "state": "s"})
    assert response.status_code == 302, response.text
    code = re.search(r"[?&]code=([^&]+)", response.headers["location"]).group(1)
    answer = httpx.post(provider + "/oauth2/token", data={"grant_type": "authorization_code", "code": code,
                                                          "redirect_uri": REDIRECT, "client_id": CLIENT,
                                                          "client_secret": "unused"})
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"]


def test_tokens_of_an_external_provider_map_to_project_roles(provider: str, settings: Settings) -> None:
    settings = settings.model_copy(update={"auth_issuers": [provider], "auth_audience": CLIENT,
                                           "auth_claims_mapping": [GROUPS_RULE]})
    with TestClient(create_app(settings), raise_server_exceptions=False) as engine:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for name in ("alpha", "beta"):
            assert engine.post("/api/v1/projects", json={"name": name}, headers=admin).status_code == 201
        dora = {"Authorization": f"Bearer {id_token(provider, 'dora-0001')}"}
        me = engine.get("/api/v1/me", headers=dora)
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["memberships"]) == ("dora", {"alpha": "developer"})
        assert engine.get("/api/v1/projects/alpha", headers=dora).json()["role"] == "developer"
        assert engine.get("/api/v1/projects/beta", headers=dora).status_code == 404
        assert engine.get("/api/v1/users", headers=dora).status_code == 403
        # A subject the provider knows but the mapping gives nothing: authenticated, member of nothing.
        stranger = {"Authorization": f"Bearer {id_token(provider, 'someone-else')}"}
        assert engine.get("/api/v1/me", headers=stranger).json()["memberships"] == {}
        assert engine.get("/api/v1/projects", headers=stranger).json()["items"] == []
