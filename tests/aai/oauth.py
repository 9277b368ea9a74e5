"""A scripted browser for the embedded issuer's login page: authorization code + PKCE, by HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

REDIRECT = "http://127.0.0.1:8765/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def login(http: httpx.Client, username: str, password: str, client_id: str = "dte-cli",
          redirect_uri: str = REDIRECT, scope: str = "openid read write admin") -> tuple[httpx.Response, str]:
    """Submit the login form; returns the response and the PKCE verifier."""
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "code_challenge": challenge, "code_challenge_method": "S256", "state": "st-1"}
    page = http.get("/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    form = {k: v for k, v in params.items() if k != "response_type"}
    response = http.post("/oauth2/authorize", data={**form, "username": username, "password": password},
                         follow_redirects=False)
    return response, verifier


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def tokens(http: httpx.Client, username: str, password: str, **kwargs: Any) -> dict[str, Any]:
    response, verifier = login(http, username, password, **kwargs)
    answer = http.post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": code_of(response), "code_verifier": verifier,
        "client_id": kwargs.get("client_id", "dte-cli"), "redirect_uri": kwargs.get("redirect_uri", REDIRECT)})
    assert answer.status_code == 200, answer.text
    return answer.json()
