"""JWT access-token verification for the resource server (RFC 9068 / OIDC): the checks the issue
lists, in an order that rejects cheaply and never trusts the token's own word about its key.

1. size and shape; header ``alg`` on the allow-list (asymmetric only: never ``none``, never HS*,
   so a token "signed" with a public key as HMAC secret fails before any key is touched);
2. ``iss`` (read unverified only to pick the key source) exactly one of the trusted issuers;
3. signature with the issuer's key named by ``kid`` (unknown kid: one rate-limited JWKS refetch);
4. ``typ`` if present, ``aud`` contains this engine, ``exp`` / ``nbf`` / ``iat`` with small leeway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from dte.adapters.identity.keys import DiscoveryError, KeyCache
from dte.domain.identity import TokenRejected, VerifiedToken

MAX_TOKEN_BYTES = 8192
_ALLOWED_TYP = {"jwt", "at+jwt", "application/at+jwt"}
_SYMMETRIC_OR_NONE = {"none", "HS256", "HS384", "HS512"}


class JwtVerifier:
    def __init__(self, issuers: Mapping[str, KeyCache], audience: str, algorithms: list[str],
                 leeway: int) -> None:
        self.issuers = dict(issuers)
        self.audience = audience
        self.algorithms = [a for a in algorithms if a not in _SYMMETRIC_OR_NONE]
        self.leeway = leeway

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2 and token.startswith("eyJ")

    async def verify(self, token: str) -> VerifiedToken:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejected("the token is too large")
        try:
            unverified = jws.extract_compact(token.encode("ascii"))
            header = unverified.headers()
            payload = json.loads(unverified.payload)
        except (JoseError, ValueError, UnicodeError):
            raise TokenRejected("the token is not a well-formed JWT") from None
        if not isinstance(payload, dict):
            raise TokenRejected("the token is not a well-formed JWT")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenRejected(f"the token's algorithm {alg!r} is not accepted")
        typ = header.get("typ")
        if typ is not None and str(typ).lower() not in _ALLOWED_TYP:
            raise TokenRejected(f"the token type {typ!r} is not an access token")
        issuer = payload.get("iss")
        keys = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if keys is None:
            raise TokenRejected("the token's issuer is not trusted")
        kid = header.get("kid")
        try:
            key_set = await keys.key_set(kid if isinstance(kid, str) else None)
        except DiscoveryError:
            raise TokenRejected("the issuer's keys are unavailable") from None
        if key_set is None:
            raise TokenRejected("the issuer's keys are unavailable")
        try:
            claims = jwt.decode(token, key_set, algorithms=self.algorithms).claims
        except JoseError:
            raise TokenRejected("the token's signature does not verify with the issuer's keys") from None
        self._check_claims(claims, issuer)
        return VerifiedToken(issuer=issuer, subject=str(claims["sub"]), claims=claims)

    def _check_claims(self, claims: Mapping[str, Any], issuer: str) -> None:
        if claims.get("iss") != issuer:  # the verified payload, not the unverified read above
            raise TokenRejected("the token's issuer is not trusted")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise TokenRejected("the token is not meant for this engine (aud)")
        now = time.time()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not _number(exp):
            raise TokenRejected("the token has no expiry (exp)")
        if now > exp + self.leeway:
            raise TokenRejected("the token has expired")
        if nbf is not None and (not _number(nbf) or now < nbf - self.leeway):
            raise TokenRejected("the token is not valid yet (nbf)")
        if iat is not None and (not _number(iat) or now < iat - self.leeway):
            raise TokenRejected("the token was issued in the future (iat)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
            raise TokenRejected("the token has no valid subject (sub)")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
