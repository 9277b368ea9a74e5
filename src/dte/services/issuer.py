"""The embedded OIDC issuer: signing keys with rotation, passwords (argon2id), the authorization-code
grant with PKCE, client credentials and rotating refresh tokens.

It is a real issuer, not a shortcut: the engine verifies its tokens through the same JWT checks as
an external IdP's, with the keys it publishes in its JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import (
    AuthorizationCodeRow,
    OAuthClientRow,
    PasswordRow,
    RefreshTokenRow,
    SigningKeyRow,
    UserRow,
)
from dte.adapters.db.types import utcnow
from dte.domain import identity as m
from dte.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated
from dte.domain.identity import OAUTH_SCOPES, OAuthError
from dte.domain.ids import new_id
from dte.domain.projects import Scope
from dte.services.access import Principal
from dte.services.projects import hash_secret
from dte.services.uow import write

CLI_CLIENT = "dte-cli"  # built in, public: loopback redirects on any port (RFC 8252) or the OOB page
OOB_PATH = "/oauth2/oob"
CODE_TTL = timedelta(minutes=5)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended cost
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))  # equal work whether or not the user exists
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


@dataclass(frozen=True)
class IssuerConfig:
    url: str  # the ``iss`` of every token
    audience: str
    token_minutes: int
    refresh_days: int
    rotation_days: int


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(_HASHER.hash, password)  # ~50 ms of CPU: off the event loop


async def password_matches(stored: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await to_thread.run_sync(check)


class IssuerService:
    def __init__(self, session: AsyncSession, config: IssuerConfig,
                 keys_changed: Callable[[], None] = lambda: None) -> None:
        self.session = session
        self.config = config
        self.keys_changed = keys_changed

    # --- keys -------------------------------------------------------------------------------------

    async def jwks(self) -> dict[str, Any]:
        """Every key whose tokens may still be valid, public parts only."""
        rows = (await self.session.scalars(
            select(SigningKeyRow).where(SigningKeyRow.expires_at > utcnow()).order_by(SigningKeyRow.created_at.desc())
        )).all()
        await self.session.commit()
        return {"keys": [RSAKey.import_key(r.private_jwk).as_dict(private=False) | {"use": "sig", "alg": "RS256"}
                         for r in rows]}

    async def signing_key(self) -> RSAKey:
        """The newest key, or a new one when it is older than the rotation period."""
        now = utcnow()
        rotation = timedelta(days=self.config.rotation_days)
        row = await self.session.scalar(select(SigningKeyRow).order_by(SigningKeyRow.created_at.desc()).limit(1))
        if row is not None and row.created_at > now - rotation:
            return RSAKey.import_key(row.private_jwk)
        key: RSAKey = await to_thread.run_sync(lambda: RSAKey.generate_key(2048, parameters={"kid": new_id()}))
        async with write(self.session):
            # Published until the last token it signs has expired.
            self.session.add(SigningKeyRow(kid=key.kid, private_jwk=key.as_dict(private=True), created_at=now,
                                           expires_at=now + rotation + timedelta(minutes=self.config.token_minutes)))
        self.keys_changed()
        return key

    async def access_token(self, user_id: str, client_id: str, scope: str) -> tuple[str, int]:
        key = await self.signing_key()
        now = int(time.time())
        lifetime = self.config.token_minutes * 60
        claims = {"iss": self.config.url, "sub": user_id, "aud": self.config.audience, "client_id": client_id,
                  "scope": scope, "iat": now, "nbf": now, "exp": now + lifetime, "jti": secrets.token_urlsafe(12)}
        return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key), lifetime

    async def _id_token(self, user: UserRow, client_id: str, nonce: str | None) -> str:
        key = await self.signing_key()
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.config.url, "sub": user.id, "aud": client_id, "iat": now,
                                  "exp": now + self.config.token_minutes * 60,
                                  "preferred_username": user.username, "name": user.display_name}
        if user.email:
            claims["email"] = user.email
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)

    # --- passwords --------------------------------------------------------------------------------

    async def set_password(self, actor: Principal, username: str, password: str) -> None:
        """Your own password, or anyone's for a platform admin."""
        if username != actor.username:
            actor.require_platform_admin()
        elif actor.token_project_id is not None or Scope.WRITE not in actor.scopes:
            raise Forbidden("changing the password needs an unrestricted token with the write scope",
                            code="insufficient_scope")
        hashed = await hash_password(password)
        async with write(self.session):
            user = await self.session.scalar(select(UserRow).where(UserRow.username == username))
            if user is None:
                raise NotFound(f"user {username!r} does not exist", code="user_not_found")
            await self._store_password(user.id, hashed)

    async def _store_password(self, user_id: str, hashed: str) -> None:
        row = await self.session.get(PasswordRow, user_id)
        if row is None:
            self.session.add(PasswordRow(user_id=user_id, hash=hashed))
        else:
            row.hash, row.updated_at = hashed, utcnow()

    async def check_password(self, username: str, password: str) -> UserRow:
        found = (await self.session.execute(
            select(UserRow, PasswordRow.hash).outerjoin(PasswordRow, PasswordRow.user_id == UserRow.id)
            .where(UserRow.username == username)
        )).first()
        await self.session.commit()
        user, stored = found if found is not None else (None, None)
        if not await password_matches(stored, password) or user is None:
            raise Unauthenticated("wrong username or password", code="invalid_credentials")
        return user

    async def bootstrap_password(self, username: str, configured: str | None) -> str | None:
        """Give the bootstrap admin a password once: the configured one, or a random one to show once."""
        user = await self.session.scalar(select(UserRow).where(UserRow.username == username))
        if user is None or await self.session.get(PasswordRow, user.id) is not None:
            await self.session.commit()
            return None
        password = configured or secrets.token_urlsafe(18)
        hashed = await hash_password(password)
        async with write(self.session):
            if await self.session.get(PasswordRow, user.id) is not None:
                return None  # another engine process got there first
            self.session.add(PasswordRow(user_id=user.id, hash=hashed))
        return None if configured else password

    # --- the authorization-code grant ---------------------------------------------------------------

    async def check_authorization_request(self, client_id: str, redirect_uri: str, challenge: str,
                                          method: str, scope: str) -> str:
        """Validate what the login page will act on; returns the normalized scope."""
        await self._redirect_allowed(client_id, redirect_uri)
        if method != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            raise OAuthError("invalid_request", "PKCE is required: code_challenge_method=S256 and a code_challenge")
        return _scope(scope, "openid read write")

    async def _redirect_allowed(self, client_id: str, redirect_uri: str) -> None:
        if client_id == CLI_CLIENT:
            parts = urlsplit(redirect_uri)
            loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
            if loopback or redirect_uri == self.config.url + OOB_PATH:
                return
        else:
            client = await self.session.get(OAuthClientRow, client_id)
            await self.session.commit()
            if client is not None and redirect_uri in client.redirect_uris:
                return
        raise OAuthError("invalid_request", "unknown client_id or a redirect_uri not registered for it")

    async def authorize(self, user: UserRow, client_id: str, redirect_uri: str, challenge: str, scope: str,
                        nonce: str | None) -> str:
        code = secrets.token_urlsafe(32)
        async with write(self.session):
            self.session.add(AuthorizationCodeRow(
                code_sha256=hash_secret(code), client_id=client_id, user_id=user.id, redirect_uri=redirect_uri,
                code_challenge=challenge, scope=scope, nonce=(nonce or None) and nonce[:255],
                expires_at=utcnow() + CODE_TTL))
        return code

    # --- the token endpoint --------------------------------------------------------------------------

    async def token(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        if basic is not None:
            form = {**form, "client_id": basic[0]}
        if grant in ("authorization_code", "refresh_token"):
            await self._authenticate_client(form, basic)
            return await (self._code_grant(form) if grant == "authorization_code" else self._refresh_grant(form))
        if grant == "client_credentials":
            return await self._client_grant(form, basic)
        raise OAuthError("unsupported_grant_type",
                         "grant_type must be authorization_code, refresh_token or client_credentials")

    async def _code_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        code, verifier = form.get("code", ""), form.get("code_verifier", "")
        async with write(self.session):
            row = await self.session.get(AuthorizationCodeRow, hash_secret(code), with_for_update=True)
            if row is not None:
                await self.session.delete(row)  # single use, whatever happens next
        ok = (row is not None and row.expires_at > utcnow() and row.client_id == form.get("client_id")
              and row.redirect_uri == form.get("redirect_uri") and _VERIFIER.fullmatch(verifier) is not None
              and hmac.compare_digest(s256(verifier), row.code_challenge))
        if not ok or row is None:
            raise OAuthError("invalid_grant", "the code is invalid, used, expired, or does not match the "
                                              "client, redirect_uri or code_verifier")
        user = await self.session.get(UserRow, row.user_id)
        if user is None:
            raise OAuthError("invalid_grant", "the user no longer exists")
        answer = await self._tokens(user.id, row.client_id, row.scope, family=None)
        if "openid" in row.scope.split():
            answer["id_token"] = await self._id_token(user, row.client_id, row.nonce)
        return answer

    async def _tokens(self, user_id: str, client_id: str, scope: str, family: str | None) -> dict[str, Any]:
        access, lifetime = await self.access_token(user_id, client_id, scope)
        refresh = "dte_rt_" + secrets.token_urlsafe(32)
        async with write(self.session):
            self.session.add(RefreshTokenRow(
                secret_sha256=hash_secret(refresh), family=family or new_id(), user_id=user_id, client_id=client_id,
                scope=scope, expires_at=utcnow() + timedelta(days=self.config.refresh_days)))
        return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime, "scope": scope,
                "refresh_token": refresh}

    async def _refresh_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        now = utcnow()
        async with write(self.session):
            row = await self.session.scalar(select(RefreshTokenRow).where(
                RefreshTokenRow.secret_sha256 == hash_secret(form.get("refresh_token", ""))).with_for_update())
            if row is not None and row.used_at is not None and row.revoked_at is None:
                # A rotated token came back: it was stolen or copied. End the whole family.
                await self.session.execute(update(RefreshTokenRow).where(RefreshTokenRow.family == row.family)
                                           .values(revoked_at=now))
                row = None
            elif row is not None and row.revoked_at is None and row.expires_at > now \
                    and row.client_id == form.get("client_id"):
                row.used_at = now
            else:
                row = None
        if row is None:
            raise OAuthError("invalid_grant", "the refresh token is invalid, expired, revoked or already used")
        return await self._tokens(row.user_id, row.client_id, _narrow(form.get("scope"), row.scope), row.family)

    async def _authenticate_client(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> None:
        """Public clients (``dte-cli``) rely on PKCE alone; a confidential one must also prove its secret."""
        client_id = basic[0] if basic else form.get("client_id", "")
        if client_id == CLI_CLIENT and basic is None:
            return
        await self._confidential_client(form, basic)

    async def _confidential_client(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> OAuthClientRow:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        client = await self.session.get(OAuthClientRow, client_id)
        await self.session.commit()
        if client is None or client.secret_sha256 is None \
                or not hmac.compare_digest(client.secret_sha256, hash_secret(secret)):
            raise OAuthError("invalid_client", "unknown client or wrong client secret", status=401)
        return client

    async def _client_grant(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        client = await self._confidential_client(form, basic)
        if client.user_id is None:
            raise OAuthError("unauthorized_client", "this client has no service user", status=400)
        scope = " ".join(n for n in _scope(form.get("scope"), "read write").split() if n in ("read", "write", "admin")) or "read"
        access, lifetime = await self.access_token(client.user_id, client.client_id, scope)
        return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime, "scope": scope}

    async def revoke(self, token: str) -> None:
        """RFC 7009: revoke a refresh token (its family); unknown tokens are not an error."""
        async with write(self.session):
            row = await self.session.scalar(select(RefreshTokenRow).where(
                RefreshTokenRow.secret_sha256 == hash_secret(token)))
            if row is not None:
                await self.session.execute(update(RefreshTokenRow).where(RefreshTokenRow.family == row.family)
                                           .values(revoked_at=utcnow()))

    # --- clients -----------------------------------------------------------------------------------

    async def create_client(self, actor: Principal, body: m.ClientCreate) -> m.ClientSecret:
        """A confidential client with a service user of the same name (add it to projects as usual)."""
        actor.require_platform_admin()
        secret = "dte_cs_" + secrets.token_urlsafe(32)
        async with write(self.session):
            taken = await self.session.scalar(select(UserRow.id).where(UserRow.username == body.name))
            if taken or body.name == CLI_CLIENT or await self.session.get(OAuthClientRow, body.name):
                raise Conflict(f"a client or user named {body.name!r} already exists", code="client_exists")
            user = UserRow(username=body.name, display_name=f"OAuth client {body.name}", platform_admin=False)
            self.session.add(user)
            await self.session.flush()
            row = OAuthClientRow(client_id=body.name, secret_sha256=hash_secret(secret), user_id=user.id,
                                 redirect_uris=body.redirect_uris)
            self.session.add(row)
        return m.ClientSecret(client_id=row.client_id, username=body.name, redirect_uris=row.redirect_uris,
                              created_at=row.created_at, client_secret=secret)

    async def list_clients(self, actor: Principal) -> list[m.Client]:
        actor.require_platform_admin()
        rows = await self.session.execute(
            select(OAuthClientRow, UserRow.username).outerjoin(UserRow, UserRow.id == OAuthClientRow.user_id)
            .order_by(OAuthClientRow.client_id))
        return [m.Client(client_id=c.client_id, username=u, redirect_uris=c.redirect_uris, created_at=c.created_at)
                for c, u in rows]

    async def delete_client(self, actor: Principal, client_id: str) -> None:
        """Removes the client and its service user (so its tokens stop working at once)."""
        actor.require_platform_admin()
        async with write(self.session):
            row = await self.session.get(OAuthClientRow, client_id)
            if row is None:
                raise NotFound(f"client {client_id!r} does not exist", code="client_not_found")
            if row.user_id is not None:
                await self.session.execute(delete(UserRow).where(UserRow.id == row.user_id))
            await self.session.delete(row)


def _scope(requested: str | None, default: str) -> str:
    names = (requested or default).split()
    unknown = [n for n in names if n not in OAUTH_SCOPES]
    if unknown or len(names) > 20:
        raise OAuthError("invalid_scope", f"unknown scopes: {' '.join(unknown)[:200]}")
    return " ".join(dict.fromkeys(names))


def _narrow(requested: str | None, granted: str) -> str:
    """A refresh may ask for fewer scopes than the original grant, never more."""
    if not requested:
        return granted
    names = _scope(requested, granted).split()
    if not set(names) <= set(granted.split()):
        raise OAuthError("invalid_scope", "a refresh cannot widen the granted scope")
    return " ".join(names)


def print_once(username: str, password: str) -> None:
    """Shown once on the console only (never through the logger)."""
    print(f"\nDTE first start: the password of {username!r} for the login page (shown once):\n  {password}\n",
          file=sys.stderr, flush=True)
