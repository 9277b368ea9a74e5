"""Authentication: a bearer credential -> :class:`Principal`.

Personal access tokens (``dte_pat_...``) are looked up by hash; JWTs are verified against the
trusted issuers (the embedded one included) and mapped to a local user: the embedded issuer's
``sub`` *is* the user id; an external issuer's subject is linked to a user provisioned on first
sight, whose roles are their memberships plus what the claims mapping grants.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import IdentityRow, MembershipRow, ProjectRow, UserRow
from dte.domain.errors import Unauthenticated
from dte.domain.identity import ClaimRule, TokenRejected, VerifiedToken
from dte.domain.projects import Role, Scope
from dte.services.access import Principal
from dte.services.claims import map_claims
from dte.services.projects import TOKEN_PREFIX, UserService
from dte.services.uow import write

MAX_CREDENTIAL = 8192


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> VerifiedToken: ...


def token_scopes(claims: Mapping[str, Any]) -> frozenset[Scope]:
    """DTE scopes named in ``scope`` (space-separated) or ``scp`` (list); none named: all of them,
    because then the roles alone decide (an external IdP rarely knows DTE's scopes)."""
    raw = claims.get("scope", claims.get("scp", ""))
    names = raw.split() if isinstance(raw, str) else [s for s in raw if isinstance(s, str)] if isinstance(raw, list) else []
    scopes = frozenset(Scope(n) for n in names if n in Scope._value2member_map_)
    return scopes or frozenset(Scope)


class PrincipalCache:
    """Recently authenticated credentials (by sha256) -> their principal, for a few seconds.

    Authentication costs a few queries per request; this makes repeated calls with the same token
    cheap. The engine clears it on every change to tokens, users, clients or memberships it serves
    (``clear``), so within one process revocation is immediate; another engine process sees a
    change within ``seconds``."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def get(self, key: bytes) -> Principal | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return found[0]

    def put(self, key: bytes, principal: Principal, seconds: float) -> None:
        if self.seconds <= 0 or seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (principal, time.monotonic() + min(seconds, self.seconds))

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    def __init__(self, verifier: TokenVerifier | None, embedded_issuer: str | None,
                 rules: Iterable[ClaimRule] = (), username_claim: str = "preferred_username",
                 cache: PrincipalCache | None = None) -> None:
        self.verifier = verifier
        self.embedded_issuer = embedded_issuer
        self.rules = list(rules)
        self.username_claim = username_claim
        self.cache = cache or PrincipalCache(0)

    async def principal(self, session: AsyncSession, credential: str) -> Principal:
        if len(credential) > MAX_CREDENTIAL:
            raise Unauthenticated("the bearer token is too large", code="invalid_token")
        key = hashlib.sha256(credential.encode("utf-8", "surrogateescape")).digest()
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if credential.startswith(TOKEN_PREFIX) or self.verifier is None:
            found = await UserService(session).authenticate(credential)
            self.cache.put(key, found, self.cache.seconds)
            return found
        try:
            verified = await self.verifier.verify(credential)
        except TokenRejected as exc:
            raise Unauthenticated(str(exc), code="invalid_token") from None
        if verified.issuer == self.embedded_issuer:
            found = await self._local(session, verified)
        else:
            found = await self._external(session, verified)
        self.cache.put(key, found, float(verified.claims["exp"]) - time.time())
        return found

    async def _local(self, session: AsyncSession, token: VerifiedToken) -> Principal:
        user = await session.get(UserRow, token.subject)
        if user is None:
            raise Unauthenticated("the token's user no longer exists", code="invalid_token")
        roles = await _memberships(session, user.id)
        await session.commit()  # end the read snapshot: requests must not hold it
        return Principal(user.id, user.username, user.platform_admin, roles, token_scopes(token.claims))

    async def _external(self, session: AsyncSession, token: VerifiedToken) -> Principal:
        user = await self._linked_user(session, token)
        roles = await _memberships(session, user.id)
        mapped = map_claims(token.claims, token.issuer, self.rules)
        if mapped.roles:
            ids = dict((await session.execute(
                select(ProjectRow.name, ProjectRow.id).where(ProjectRow.name.in_(list(mapped.roles)))
            )).all())
            for name, role in mapped.roles.items():
                project_id = ids.get(name)
                if project_id is not None and (project_id not in roles or role.includes(roles[project_id])):
                    roles[project_id] = role
        await session.commit()  # end the read snapshot: requests must not hold it
        return Principal(user.id, user.username, user.platform_admin or mapped.platform_admin, roles,
                         token_scopes(token.claims))

    async def _linked_user(self, session: AsyncSession, token: VerifiedToken) -> UserRow:
        found = await session.scalar(
            select(UserRow).join(IdentityRow, IdentityRow.user_id == UserRow.id)
            .where(IdentityRow.issuer == token.issuer, IdentityRow.subject == token.subject)
        )
        if found is not None:
            return found
        try:
            async with write(session):
                user = UserRow(username=await self._free_username(session, token),
                               display_name=str(token.claims.get("name") or "")[:200],
                               email=_email(token.claims.get("email")), platform_admin=False)
                session.add(user)
                await session.flush()
                session.add(IdentityRow(issuer=token.issuer, subject=token.subject, user_id=user.id))
            return user
        except IntegrityError:  # two first requests of the same subject at once: the other one won
            await session.rollback()
            linked = await session.scalar(
                select(UserRow).join(IdentityRow, IdentityRow.user_id == UserRow.id)
                .where(IdentityRow.issuer == token.issuer, IdentityRow.subject == token.subject)
            )
            if linked is None:
                raise
            return linked

    async def _free_username(self, session: AsyncSession, token: VerifiedToken) -> str:
        """The IdP's preferred username when it is valid and free; else one derived from issuer + sub."""
        suffix = hashlib.sha256(f"{token.issuer}\n{token.subject}".encode()).hexdigest()[:8]
        wanted = _username(str(token.claims.get(self.username_claim) or ""))
        if wanted and not await session.scalar(select(UserRow.id).where(UserRow.username == wanted)):
            return wanted
        return f"{wanted or 'user'}-{suffix}"[-63:].lstrip("-._0123456789") or f"u{suffix}"


async def _memberships(session: AsyncSession, user_id: str) -> dict[str, Role]:
    rows = await session.execute(select(MembershipRow.project_id, MembershipRow.role)
                                 .where(MembershipRow.user_id == user_id))
    return {p: Role(r) for p, r in rows}


def _username(value: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", value.lower().split("@")[0]).strip("-._")[:54]
    return name if re.fullmatch(r"[a-z][a-z0-9._-]{1,53}", name) else ""


def _email(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 320 and re.fullmatch(r"[^@\s]+@[^@\s]+", value) else None
