"""Signing in at the engine's embedded OIDC issuer from a terminal: authorization code + PKCE with
a loopback redirect (RFC 8252: the browser comes back to a one-shot server on 127.0.0.1), or, with
no browser on this machine, the issuer's out-of-band page that shows the code to paste."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from dte.client.calls import check

CLIENT_ID = "dte-cli"
SCOPE = "openid read write admin"


@dataclass(frozen=True)
class Grant:
    """What the token endpoint answered."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def discover(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/.well-known/openid-configuration")
    if response.status_code == 404:
        raise LoginError("this engine runs no embedded issuer: log in with a personal access token (--with-token)")
    document: dict[str, Any] = check(response).json()
    return document


class LoginError(Exception):
    pass


def authorization_url(config: dict[str, Any], redirect_uri: str, challenge: str, state: str) -> str:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri, "scope": SCOPE,
             "code_challenge": challenge, "code_challenge_method": "S256", "state": state}
    return f"{config['authorization_endpoint']}?{urlencode(query)}"


def exchange(http: httpx.Client, config: dict[str, Any], code: str, verifier: str, redirect_uri: str) -> Grant:
    response = http.post(config["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code.strip(), "code_verifier": verifier,
        "client_id": CLIENT_ID, "redirect_uri": redirect_uri})
    if response.status_code != 200:
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        raise LoginError(f"the engine refused the code: {body.get('error_description', response.status_code)}")
    data = response.json()
    return Grant(data["access_token"], int(data["expires_in"]), data.get("scope", ""), data.get("refresh_token"))


def browser_login(http: httpx.Client, open_browser: Callable[[str], object], timeout: float = 300.0) -> Grant:
    """Open the login page in a browser and wait for it to come back to a loopback port."""
    config = discover(http)
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    received: dict[str, str] = {}
    done = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if urlsplit(self.path).path != "/callback" or "code" not in query and "error" not in query:
                self.send_error(404)
                return
            received.update(query)
            body = b"<!doctype html><title>DTE</title><p>Signed in. You can close this window.</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, *args: Any) -> None:
            pass  # the query holds the code: never print it

    server = HTTPServer(("127.0.0.1", 0), Callback)
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        open_browser(authorization_url(config, redirect_uri, challenge, state))
        if not done.wait(timeout):
            raise LoginError(f"no login within {int(timeout)} s")
    finally:
        server.shutdown()
        server.server_close()
    if received.get("state") != state:
        raise LoginError("the login answer does not belong to this login (state mismatch)")
    if "code" not in received:
        raise LoginError(f"the login was refused: {received.get('error', 'unknown error')}")
    return exchange(http, config, received["code"], verifier, redirect_uri)


def pasted_code_login(http: httpx.Client, show_url: Callable[[str], object], ask_code: Callable[[], str]) -> Grant:
    """For a terminal without a browser: the login page ends on a page that shows a code to paste."""
    config = discover(http)
    verifier, challenge = _pkce()
    redirect_uri = config["issuer"] + "/oauth2/oob"
    show_url(authorization_url(config, redirect_uri, challenge, secrets.token_urlsafe(16)))
    return exchange(http, config, ask_code(), verifier, redirect_uri)
