"""Signing keys of a token issuer, cached: fetched once, refetched (at most every ``min_interval``
seconds) only when a token names a key id the cache does not know - that is how key rotation
shows, and the rate limit keeps forged ``kid`` values from turning into a request flood."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
from joserfc.jwk import KeySet

FetchKeys = Callable[[], Awaitable[dict[str, Any]]]


class KeyCache:
    def __init__(self, fetch: FetchKeys, min_interval: float) -> None:
        self._fetch = fetch
        self._min_interval = min_interval
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = anyio.Lock()

    def forget(self) -> None:
        """Refetch on next use (this process just added a key)."""
        self._fetched_at = float("-inf")
        self._keys = None

    async def key_set(self, kid: str | None) -> KeySet | None:
        """The key set, refreshed first when ``kid`` is unknown and the last fetch is old enough."""
        if self._keys is not None and (kid is None or _has(self._keys, kid)):
            return self._keys
        async with self._lock:  # one refetch for many concurrent requests with the new kid
            if self._keys is not None and (kid is None or _has(self._keys, kid)):
                return self._keys
            if time.monotonic() - self._fetched_at < self._min_interval:
                return self._keys
            self._fetched_at = time.monotonic()
            self._keys = KeySet.import_key_set(await self._fetch())  # type: ignore[arg-type]
            return self._keys


def _has(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


class DiscoveryError(Exception):
    """The issuer's discovery document or JWKS could not be used."""


def remote_jwks(issuer: str, http: httpx.AsyncClient) -> FetchKeys:
    """Fetch keys the OIDC way: ``<issuer>/.well-known/openid-configuration`` -> ``jwks_uri``.

    The discovery document must name exactly this issuer (OIDC Discovery 1.0, section 4.3), so a
    mix-up between issuers cannot make the engine trust the wrong keys.
    """

    async def fetch() -> dict[str, Any]:
        try:
            response = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
            response.raise_for_status()
            config = response.json()
            if config.get("issuer") != issuer:
                raise DiscoveryError(f"discovery document of {issuer} names issuer {config.get('issuer')!r}")
            keys = await http.get(config["jwks_uri"])
            keys.raise_for_status()
            data = keys.json()
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise DiscoveryError(f"cannot read the keys of {issuer}: {type(exc).__name__}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise DiscoveryError(f"the JWKS of {issuer} is not a key set")
        # Only public signature keys are imported; symmetric keys in a JWKS are never trusted.
        data["keys"] = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "OKP")
                        and k.get("use", "sig") == "sig"]
        return data

    return fetch
