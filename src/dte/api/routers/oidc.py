"""The embedded OIDC issuer's endpoints: discovery, JWKS, login page (authorization code + PKCE),
token (code, refresh, client credentials), revocation. Only here when ``DTE_ISSUER_ENABLED``.

Forms are parsed here with hard limits (size, field count, UTF-8) instead of a multipart library:
garbage in a login form is a 400, never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from dte.api.deps import RuntimeDep, Session
from dte.api.identity import Identity
from dte.domain.errors import DteError, NotFound, Unauthenticated
from dte.domain.identity import OAUTH_SCOPES, OAuthError
from dte.services.issuer import CLI_CLIENT, OOB_PATH, IssuerService

router = APIRouter(tags=["oidc"], include_in_schema=True)
MAX_FORM_BYTES = 16 * 1024
_PARAMS = ("client_id", "redirect_uri", "code_challenge", "code_challenge_method", "scope", "state", "nonce")


def identity(rt: RuntimeDep) -> Identity:
    if rt.identity is None or rt.identity.issuer is None:
        raise NotFound("the embedded issuer is not enabled on this engine", code="issuer_disabled")
    return rt.identity


IdentityDep = Annotated[Identity, Depends(identity)]


def issuer(db: Session, ident: IdentityDep) -> IssuerService:
    assert ident.issuer is not None and ident.local_keys is not None
    return IssuerService(db, ident.issuer, ident.local_keys.forget)


Issuer = Annotated[IssuerService, Depends(issuer)]


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (a repeated field is an error)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send the form as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", f"the form exceeds {MAX_FORM_BYTES} bytes", status=413)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=30)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form is not valid url-encoded UTF-8") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form or "\x00" in value:
            raise OAuthError("invalid_request", f"the form field {key[:40]!r} is repeated or holds NUL")
        form[key] = value
    return form


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limited(ident: Identity, request: Request) -> None:
    wait = ident.logins.retry_after(client_ip(request))
    if wait:
        raise HTTPException(429, f"too many failed logins; retry in {wait} s", headers={"Retry-After": str(wait)})


def _failed(ident: Identity, request: Request) -> None:
    try:
        ident.logins.take(client_ip(request))
    except HTTPException:
        pass  # already empty; the next attempt gets the 429


# --- discovery and keys ------------------------------------------------------------------------------

@router.get("/.well-known/openid-configuration", summary="OIDC discovery document of the embedded issuer")
async def discovery(ident: IdentityDep) -> dict[str, Any]:
    assert ident.issuer is not None
    base = ident.issuer.url
    return {
        "issuer": base, "authorization_endpoint": f"{base}/oauth2/authorize", "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/oauth2/jwks", "revocation_endpoint": f"{base}/oauth2/revoke",
        "response_types_supported": ["code"], "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"], "scopes_supported": sorted(OAUTH_SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "id_token_signing_alg_values_supported": ["RS256"], "subject_types_supported": ["public"],
    }


@router.get("/oauth2/jwks", summary="Public keys of the embedded issuer (current and recently rotated)")
async def jwks(svc: Issuer) -> JSONResponse:
    return JSONResponse(await svc.jwks(), headers={"Cache-Control": "public, max-age=300"})


# --- the login page --------------------------------------------------------------------------------

def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - DTE</title>"
        "<meta name='viewport' content='width=device-width'><style>body{font-family:sans-serif;max-width:26em;"
        "margin:4em auto}input{display:block;width:100%;margin:.3em 0 1em;padding:.4em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>", status_code=status,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"})


def _login_form(params: dict[str, str], error: str = "", status: int = 200) -> HTMLResponse:
    hidden = "".join(f"<input type='hidden' name='{k}' value='{html.escape(params.get(k, ''), quote=True)}'>"
                     for k in _PARAMS if params.get(k))
    message = f"<p role='alert' style='color:#b00'>{html.escape(error)}</p>" if error else ""
    return _page("Sign in to DTE", f"{message}<form method='post' action='/oauth2/authorize'>{hidden}"
                 "<label>Username<input name='username' autocomplete='username' required></label>"
                 "<label>Password<input name='password' type='password' autocomplete='current-password' required>"
                 "</label><button type='submit'>Sign in</button></form>"
                 f"<p>Client: {html.escape(params.get('client_id', ''))}</p>", status)


async def _checked(svc: IssuerService, params: dict[str, str]) -> str:
    if params.get("response_type", "code") != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    return await svc.check_authorization_request(params.get("client_id", ""), params.get("redirect_uri", ""),
                                                 params.get("code_challenge", ""),
                                                 params.get("code_challenge_method", ""), params.get("scope", ""))


@router.get("/oauth2/authorize", summary="Login page (authorization code + PKCE)", response_class=HTMLResponse)
async def authorize_page(request: Request, svc: Issuer) -> HTMLResponse:
    params = {k: v for k, v in request.query_params.items() if k in (*_PARAMS, "response_type")}
    try:
        await _checked(svc, params)
    except DteError as exc:
        return _page("Cannot sign in", f"<p>{html.escape(exc.detail)}</p>", 400)
    return _login_form(params)


@router.post("/oauth2/authorize", summary="Submit the login form", response_class=HTMLResponse,
             responses={303: {"description": "back to the client's redirect_uri with a code"}})
async def authorize_submit(request: Request, svc: Issuer, ident: IdentityDep) -> Response:
    try:
        form = await read_form(request)
        params = {k: form.get(k, "") for k in _PARAMS}
        scope = await _checked(svc, params)
    except DteError as exc:
        return _page("Cannot sign in", f"<p>{html.escape(exc.detail)}</p>", exc.status if exc.status != 422 else 400)
    username = form.get("username", "")[:63]
    request.state.audit_actor = username if username.isprintable() else "?"
    _limited(ident, request)
    try:
        if len(form.get("password", "")) > 1024:
            raise Unauthenticated("wrong username or password", code="invalid_credentials")
        user = await svc.check_password(username, form.get("password", ""))
    except Unauthenticated:
        _failed(ident, request)
        return _login_form(params, "Wrong username or password.", 401)
    code = await svc.authorize(user, params["client_id"], params["redirect_uri"], params["code_challenge"], scope,
                               params.get("nonce"))
    answer = {"code": code, **({"state": params["state"]} if params.get("state") else {})}
    separator = "&" if "?" in params["redirect_uri"] else "?"
    return RedirectResponse(params["redirect_uri"] + separator + urlencode(answer), status_code=303,
                            headers={"Cache-Control": "no-store"})


@router.get(OOB_PATH, summary="Shows an authorization code to copy (logins without a local browser)",
            response_class=HTMLResponse)
async def oob(ident: IdentityDep, code: str = "") -> HTMLResponse:
    if not code or len(code) > 100:
        return _page("No code", "<p>Start the login from the command line: <code>dte login</code>.</p>", 400)
    return _page("Signed in", f"<p>Paste this code into <code>dte login</code>:</p><pre>{html.escape(code)}</pre>")


# --- tokens ---------------------------------------------------------------------------------------

def _oauth_error(exc: DteError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="dte"'
    return JSONResponse({"error": exc.code, "error_description": exc.detail, "code": exc.code, "status": exc.status,
                         "type": f"urn:dte:problem:{exc.code}", "title": "OAuth error", "detail": exc.detail},
                        status_code=exc.status, headers=headers)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or len(value) > 1024:
        return None
    try:
        client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", status=401) from None
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials", status=401)
    return client_id, secret


@router.post("/oauth2/token", summary="Token endpoint: authorization_code (+PKCE), refresh_token, client_credentials")
async def token(request: Request, svc: Issuer, ident: IdentityDep) -> JSONResponse:
    try:
        form = await read_form(request)
        basic = _basic(request)
        request.state.audit_actor = (basic[0] if basic else form.get("client_id", ""))[:63] or "anonymous"
        _limited(ident, request)
        answer = await svc.token(form, basic)
    except OAuthError as exc:
        if exc.code in ("invalid_grant", "invalid_client"):
            _failed(ident, request)
        return _oauth_error(exc)
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.post("/oauth2/revoke", summary="Revoke a refresh token (RFC 7009)")
async def revoke(request: Request, svc: Issuer) -> Response:
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return _oauth_error(exc)
    await svc.revoke(form.get("token", ""))
    return Response(status_code=200)


__all__ = ["router", "CLI_CLIENT"]
