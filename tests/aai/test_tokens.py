"""The resource server: the token attack matrix, key rotation at a trusted issuer, claims mapping,
and personal access tokens still working next to JWTs."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx
import pytest
from conftest import AUDIENCE, TestIssuer
from helpers import ADMIN_TOKEN
from joserfc.jwk import RSAKey
from starlette.testclient import TestClient

from dte.api.app import create_app
from dte.settings import Settings


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def me(engine: TestClient, token: str) -> httpx.Response:
    return engine.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def rejected(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="dte"'
    body = response.json()
    assert body["code"] == "invalid_token"
    assert "Traceback" not in response.text and "joserfc" not in response.text
    return body["detail"]


def alg_none(i: TestIssuer) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(i.claims())}."


def hs256_with_public_key(i: TestIssuer) -> str:
    """The classic confusion: HMAC 'signed' with the issuer's public key as the shared secret."""
    import hashlib
    import hmac

    public_pem = i.key.as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': i.key.kid})}.{b64(i.claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(i: TestIssuer) -> str:
    header, _, signature = i.sign().split(".")
    raised = i.claims(groups=["dte:alpha:admin", "dte-platform-admins"])
    return f"{header}.{b64(raised)}.{signature}"


def unknown_kid(i: TestIssuer) -> str:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "key-unknown"})
    return i.sign(key=stranger)


def known_kid_wrong_key(i: TestIssuer) -> str:
    stranger = RSAKey.generate_key(2048, parameters={"kid": i.key.kid})
    return i.sign(key=stranger)


ATTACKS: dict[str, Callable[[TestIssuer], str]] = {
    "alg none": alg_none,
    "HS256 signed with the RSA public key": hs256_with_public_key,
    "wrong iss": lambda i: i.sign(i.claims(iss="https://evil.example.org")),
    "iss with a trailing slash": lambda i: i.sign(i.claims(iss=i.url + "/")),
    "wrong aud": lambda i: i.sign(i.claims(aud="another-service")),
    "no aud": lambda i: i.sign({k: v for k, v in i.claims().items() if k != "aud"}),
    "expired": lambda i: i.sign(i.claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200,
                                         nbf=int(time.time()) - 7200)),
    "no exp": lambda i: i.sign({k: v for k, v in i.claims().items() if k != "exp"}),
    "not yet valid (nbf)": lambda i: i.sign(i.claims(nbf=int(time.time()) + 3600)),
    "issued in the future (iat)": lambda i: i.sign(i.claims(iat=int(time.time()) + 3600)),
    "tampered payload": tampered,
    "unknown kid": unknown_kid,
    "known kid, other key": known_kid_wrong_key,
    "typ of an ID-token logout": lambda i: i.sign(typ="logout+jwt"),
    "no sub": lambda i: i.sign({k: v for k, v in i.claims().items() if k != "sub"}),
    "garbage": lambda i: "eyJhbGciOi.not-base64!.x",
    "oversized": lambda i: "eyJ" + "A" * 20000 + ".e30.",
}


def test_a_valid_token_is_accepted_and_its_claims_mapped(engine: TestClient, issuer: TestIssuer) -> None:
    """The positive control for the matrix: same issuer, key and claims, nothing altered."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert engine.post("/api/v1/projects", json={"name": "alpha"}, headers=admin).status_code == 201
    response = me(engine, issuer.sign())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "erin"
    assert body["memberships"] == {"alpha": "developer"}
    assert body["platform_admin"] is False


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_token_attack_matrix(engine: TestClient, issuer: TestIssuer, attack: str) -> None:
    assert me(engine, issuer.sign()).status_code == 200  # the issuer and engine work: rejection is the token's
    detail = rejected(me(engine, ATTACKS[attack](issuer)))
    assert issuer.key.as_dict(private=False)["n"][:20] not in detail


def test_revoked_personal_access_token_is_rejected(engine: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = engine.post("/api/v1/tokens", json={"name": "short-lived"}, headers=admin).json()
    assert me(engine, created["secret"]).status_code == 200
    assert engine.delete(f"/api/v1/tokens/{created['id']}", headers=admin).status_code == 204
    assert rejected(me(engine, created["secret"])) == "the token has been revoked"


def test_unknown_kid_refetches_once_then_rate_limits(settings: Settings, issuer: TestIssuer) -> None:
    """Rotation at the issuer is picked up by one refetch; a flood of forged kids is not a fetch flood."""
    interval = 1.0
    quick = settings.model_copy(update={"auth_jwks_refetch_seconds": interval})
    forged = [issuer.sign(key=RSAKey.generate_key(2048, parameters={"kid": f"forged-{n}"})) for n in range(20)]
    with TestClient(create_app(quick), raise_server_exceptions=False) as engine:
        assert me(engine, issuer.sign()).status_code == 200
        assert issuer.jwks_fetches == 1
        rotated = RSAKey.generate_key(2048, parameters={"kid": "key-2"})
        issuer.published = [rotated, issuer.key]
        time.sleep(interval + 0.1)
        assert me(engine, issuer.sign(key=rotated)).status_code == 200
        assert issuer.jwks_fetches == 2
        began = time.monotonic()
        for token in forged:
            rejected(me(engine, token))
        elapsed = time.monotonic() - began
    # At most one refetch per interval, however many unknown kids arrive (20 here).
    assert issuer.jwks_fetches - 2 <= 1 + int(elapsed / interval) < 20


def test_claims_mapping_grants_platform_admin_and_role_limits(engine: TestClient, issuer: TestIssuer) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for name in ("alpha", "beta"):
        engine.post("/api/v1/projects", json={"name": name}, headers=admin)
    user = issuer.sign(issuer.claims(sub="s-2", preferred_username="frank", groups=["dte:beta:user", "dte:alpha:owner"]))
    body = me(engine, user).json()
    assert body["memberships"] == {"beta": "user"}  # 'owner' is no role: grants nothing
    bearer = {"Authorization": f"Bearer {user}"}
    assert engine.get("/api/v1/projects/alpha", headers=bearer).status_code == 404
    assert engine.put("/api/v1/projects/beta/members/admin", json={"role": "user"}, headers=bearer).status_code == 403
    assert engine.get("/api/v1/users", headers=bearer).status_code == 403
    boss = issuer.sign(issuer.claims(sub="s-3", preferred_username="gina", groups=["dte-platform-admins"]))
    assert engine.get("/api/v1/users", headers={"Authorization": f"Bearer {boss}"}).status_code == 200


def test_audience_is_this_engine(engine: TestClient, issuer: TestIssuer) -> None:
    assert me(engine, issuer.sign(issuer.claims(aud=["other", AUDIENCE]))).status_code == 200


def test_membership_and_token_changes_apply_at_once_despite_the_principal_cache(engine: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    engine.post("/api/v1/projects", json={"name": "alpha"}, headers=admin)
    engine.post("/api/v1/users", json={"username": "lee"}, headers=admin)
    created = engine.post("/api/v1/users/lee/tokens", json={"name": "t"}, headers=admin).json()
    lee = {"Authorization": f"Bearer {created['secret']}"}
    assert engine.get("/api/v1/projects/alpha", headers=lee).status_code == 404
    engine.put("/api/v1/projects/alpha/members/lee", json={"role": "user"}, headers=admin)
    assert engine.get("/api/v1/projects/alpha", headers=lee).status_code == 200  # now cached as a member
    assert engine.delete("/api/v1/projects/alpha/members/lee", headers=admin).status_code == 204
    assert engine.get("/api/v1/projects/alpha", headers=lee).status_code == 404
    assert engine.delete(f"/api/v1/tokens/{created['id']}", headers=admin).status_code == 204
    assert me(engine, created["secret"]).status_code == 401


def test_a_new_project_is_usable_at_once_by_its_creator(settings: Settings) -> None:
    open_creation = settings.model_copy(update={"allow_project_creation": True})
    with TestClient(create_app(open_creation), raise_server_exceptions=False) as engine:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        engine.post("/api/v1/users", json={"username": "mia"}, headers=admin)
        mia = {"Authorization": "Bearer " + engine.post("/api/v1/users/mia/tokens", json={"name": "t"},
                                                       headers=admin).json()["secret"]}
        assert engine.get("/api/v1/me", headers=mia).json()["memberships"] == {}  # cached without projects
        assert engine.post("/api/v1/projects", json={"name": "mine"}, headers=mia).status_code == 201
        assert engine.get("/api/v1/projects/mine", headers=mia).json()["role"] == "admin"
