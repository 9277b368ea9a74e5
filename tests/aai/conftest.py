"""AAI fixtures: a real token issuer on a local port (discovery + JWKS over HTTP) that the engine
trusts, and the engine configured for it with a claims mapping."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from dte.domain.identity import ClaimRule
from dte.settings import Settings

AUDIENCE = "dte"
GROUPS_RULE = ClaimRule(claim="groups", match=r"dte:(?P<project>[a-z0-9-]+):(?P<role>\w+)")
ADMIN_RULE = ClaimRule(claim="groups", match="dte-platform-admins", platform_admin=True)


class TestIssuer:
    """An OIDC issuer reduced to what a resource server reads: discovery and JWKS, served over HTTP."""

    __test__ = False

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
        self.published = [self.key]
        self.jwks_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    body = {"keys": [k.as_dict(private=False) for k in issuer.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {"iss": self.url, "sub": "subject-1", "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300,
                "preferred_username": "erin", "groups": ["dte:alpha:developer"]}
        return {k: v for k, v in {**base, **overrides}.items() if v is not None}

    def sign(self, claims: dict[str, Any] | None = None, key: RSAKey | None = None, **header: Any) -> str:
        key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid, **header}, claims or self.claims(), key)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[TestIssuer]:
    trusted = TestIssuer()
    yield trusted
    trusted.close()


@pytest.fixture
def settings(settings: Settings, issuer: TestIssuer) -> Settings:
    """The shared engine settings (database, quiet background parts), trusting the test issuer."""
    return settings.model_copy(update={
        "issuer_enabled": True, "admin_password": SecretStr("correct horse battery staple"),
        "auth_issuers": [issuer.url],
        "auth_audience": AUDIENCE, "auth_jwks_refetch_seconds": 3600,
        "auth_claims_mapping": [GROUPS_RULE, ADMIN_RULE]})
