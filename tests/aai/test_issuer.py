"""The embedded OIDC issuer: discovery, JWKS with rotation, login page with PKCE, refresh-token
rotation, client credentials, passwords and the bootstrap admin's password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import AUDIENCE
from helpers import ADMIN_TOKEN
from joserfc import jwt
from oauth import REDIRECT, code_of, login, tokens
from sqlalchemy import update
from starlette.testclient import TestClient

from dte.adapters.db.engine import create_sync_engine
from dte.adapters.db.tables import SigningKeyRow
from dte.adapters.db.types import utcnow
from dte.api.app import create_app
from dte.settings import Settings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_discovery_and_jwks(engine: TestClient, settings: Settings) -> None:
    config = engine.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == settings.url
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert engine.get("/oauth2/jwks").json()["keys"] == []  # the first key comes with the first token
    token = tokens(engine, "admin", PASSWORD)["access_token"]
    keys = engine.get("/oauth2/jwks").json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and "d" not in keys[0]
    assert engine.get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_login_with_pkce_gives_working_tokens(engine: TestClient, settings: Settings) -> None:
    answer = tokens(engine, "admin", PASSWORD)
    claims = jwt.decode(answer["access_token"], _jwks(engine)).claims
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (settings.url, AUDIENCE, "dte-cli")
    assert engine.get("/api/v1/me", headers=bearer(answer["access_token"])).json()["username"] == "admin"
    assert engine.get("/api/v1/users", headers=bearer(answer["access_token"])).status_code == 200
    assert jwt.decode(answer["id_token"], _jwks(engine)).claims["aud"] == "dte-cli"


def test_wrong_password_and_unknown_user_look_the_same(engine: TestClient) -> None:
    wrong, _ = login(engine, "admin", "not the password")
    nobody, _ = login(engine, "nobody", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "Wrong username or password" in wrong.text and "Wrong username or password" in nobody.text
    assert "not the password" not in wrong.text


def test_code_is_single_use_and_bound_to_the_verifier(engine: TestClient) -> None:
    response, verifier = login(engine, "admin", PASSWORD)
    code = code_of(response)
    exchange = {"grant_type": "authorization_code", "code": code, "client_id": "dte-cli", "redirect_uri": REDIRECT}
    wrong = engine.post("/oauth2/token", data={**exchange, "code_verifier": "x" * 50})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The failed attempt used the code up: a stolen code with a guessed verifier cannot be retried.
    again = engine.post("/oauth2/token", data={**exchange, "code_verifier": verifier})
    assert again.json()["error"] == "invalid_grant"


def test_pkce_is_required(engine: TestClient) -> None:
    page = engine.get("/oauth2/authorize", params={"response_type": "code", "client_id": "dte-cli",
                                                   "redirect_uri": REDIRECT})
    assert page.status_code == 400 and "PKCE" in page.text
    foreign = engine.get("/oauth2/authorize", params={"client_id": "dte-cli", "redirect_uri": "https://evil.example/cb",
                                                      "code_challenge": "a" * 43, "code_challenge_method": "S256"})
    assert foreign.status_code == 400 and "redirect_uri" in foreign.text


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(engine: TestClient) -> None:
    first = tokens(engine, "admin", PASSWORD)
    refresh = {"grant_type": "refresh_token", "client_id": "dte-cli"}
    second = engine.post("/oauth2/token", data={**refresh, "refresh_token": first["refresh_token"]}).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert engine.get("/api/v1/me", headers=bearer(second["access_token"])).status_code == 200
    replay = engine.post("/oauth2/token", data={**refresh, "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The replay ended the family: the legitimately rotated token no longer works either.
    after = engine.post("/oauth2/token", data={**refresh, "refresh_token": second["refresh_token"]})
    assert after.json()["error"] == "invalid_grant"
    narrowed = tokens(engine, "admin", PASSWORD)
    wider = engine.post("/oauth2/token", data={**refresh, "refresh_token": narrowed["refresh_token"],
                                              "scope": "openid read write admin email"})
    assert wider.json()["error"] == "invalid_scope"


def test_client_credentials_act_as_a_service_user_with_project_roles(engine: TestClient) -> None:
    engine.post("/api/v1/projects", json={"name": "alpha"}, headers=ADMIN)
    created = engine.post("/api/v1/clients", json={"name": "ingest-bot"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    assert "client_secret" not in engine.get("/api/v1/clients", headers=ADMIN).json()[0]
    grant = engine.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "read"},
                        auth=("ingest-bot", secret))
    assert grant.status_code == 200, grant.text
    assert "refresh_token" not in grant.json()
    machine = bearer(grant.json()["access_token"])
    assert engine.get("/api/v1/projects/alpha", headers=machine).status_code == 404
    engine.put("/api/v1/projects/alpha/members/ingest-bot", json={"role": "user"}, headers=ADMIN)
    assert engine.get("/api/v1/projects/alpha", headers=machine).json()["role"] == "user"
    assert engine.post("/api/v1/tokens", json={"name": "x", "scopes": ["write"]}, headers=machine).status_code == 403
    bad = engine.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("ingest-bot", "wrong"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert engine.delete("/api/v1/clients/ingest-bot", headers=ADMIN).status_code == 204
    assert engine.get("/api/v1/me", headers=machine).status_code == 401


def test_signing_keys_rotate_and_old_tokens_stay_valid(engine: TestClient, settings: Settings) -> None:
    old = tokens(engine, "admin", PASSWORD)["access_token"]
    sync = create_sync_engine(settings.effective_database_url)
    with sync.begin() as connection:  # the current key is past its rotation period
        connection.execute(update(SigningKeyRow).values(created_at=utcnow() - timedelta(days=31)))
    sync.dispose()
    new = tokens(engine, "admin", PASSWORD)["access_token"]
    kids = [k["kid"] for k in engine.get("/oauth2/jwks").json()["keys"]]
    assert len(kids) == 2
    assert jwt.decode(new, _jwks(engine)).header["kid"] == kids[0] != jwt.decode(old, _jwks(engine)).header["kid"]
    for token in (old, new):
        assert engine.get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_users_set_their_password_and_sign_in(engine: TestClient) -> None:
    engine.post("/api/v1/users", json={"username": "hana"}, headers=ADMIN)
    hana = engine.post("/api/v1/users/hana/tokens", json={"name": "t"}, headers=ADMIN).json()["secret"]
    assert login(engine, "hana", "no password yet, none by default")[0].status_code == 401
    short = engine.put("/api/v1/users/hana/password", json={"password": "short"}, headers=bearer(hana))
    assert short.status_code == 422 and short.json()["errors"][0]["pointer"] == "/password"
    assert engine.put("/api/v1/users/admin/password", json={"password": "x" * 20}, headers=bearer(hana)).status_code == 403
    assert engine.put("/api/v1/users/hana/password", json={"password": "hana's long password"},
                      headers=bearer(hana)).status_code == 204
    assert tokens(engine, "hana", "hana's long password")["access_token"]


def test_first_start_prints_a_random_admin_password_once(settings: Settings,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings.model_copy(update={"admin_password": None})
    with TestClient(create_app(settings)):
        pass
    printed = capsys.readouterr().err
    assert "password of 'admin'" in printed
    password = printed.split("(shown once):\n", 1)[1].split()[0]
    with TestClient(create_app(settings)) as engine:
        assert code_of(login(engine, "admin", password)[0])
    assert "password of 'admin'" not in capsys.readouterr().err


def _jwks(engine: TestClient):  # noqa: ANN202 - a joserfc KeySet
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(engine.get("/oauth2/jwks").json())


def test_a_confidential_client_must_prove_its_secret_for_codes_and_refreshes(engine: TestClient) -> None:
    web = "https://app.example.org/cb"
    secret = engine.post("/api/v1/clients", json={"name": "web-app", "redirect_uris": [web]},
                         headers=ADMIN).json()["client_secret"]
    response, verifier = login(engine, "admin", PASSWORD, client_id="web-app", redirect_uri=web)
    exchange = {"grant_type": "authorization_code", "code": code_of(response), "code_verifier": verifier,
                "client_id": "web-app", "redirect_uri": web}
    assert engine.post("/oauth2/token", data=exchange).json()["error"] == "invalid_client"
    response, verifier = login(engine, "admin", PASSWORD, client_id="web-app", redirect_uri=web)
    exchange.update(code=code_of(response), code_verifier=verifier)
    granted = engine.post("/oauth2/token", data=exchange, auth=("web-app", secret))
    assert granted.status_code == 200, granted.text
    refresh = {"grant_type": "refresh_token", "refresh_token": granted.json()["refresh_token"]}
    assert engine.post("/oauth2/token", data={**refresh, "client_id": "dte-cli"}).json()["error"] == "invalid_grant"
    assert engine.post("/oauth2/token", data=refresh, auth=("web-app", secret)).status_code == 200


def test_cli_client_commands(engine: TestClient) -> None:
    from helpers import client_for
    from typer.testing import CliRunner

    from dte.cli.common import state
    from dte.cli.main import app as cli

    state._client = client_for(engine, ADMIN_TOKEN)
    try:
        runner = CliRunner()
        created = runner.invoke(cli, ["client", "create", "robot"])
        assert created.exit_code == 0, created.output
        secret = created.output.split("client secret (shown once):")[1].split()[0]
        assert secret.startswith("dte_cs_")
        assert engine.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           auth=("robot", secret)).status_code == 200
        listed = runner.invoke(cli, ["client", "list", "--json"])
        assert '"robot"' in listed.output and secret not in listed.output
        assert runner.invoke(cli, ["client", "delete", "robot"]).exit_code == 0
    finally:
        state._client = None
        state.json = False
