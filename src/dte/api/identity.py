"""The engine's identity wiring: trusted issuers' key caches, the JWT verifier, the embedded
issuer, rate limiters. Entered into the lifespan's background stack; it sets ``Runtime.identity``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from dte.adapters.identity.jwt import JwtVerifier
from dte.adapters.identity.keys import KeyCache, remote_jwks
from dte.api.ratelimit import RateLimiter
from dte.services.authn import Authenticator, PrincipalCache
from dte.services.bootstrap import ADMIN
from dte.services.issuer import IssuerConfig, IssuerService, print_once
from dte.settings import Settings

if TYPE_CHECKING:
    from dte.api.deps import Runtime

_LOCAL_REFETCH_SECONDS = 1.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
log = structlog.get_logger("dte.identity")


# Successful changes on these routes change who may do what: the principal cache starts over.
# Creating a project makes its creator a member, hence the whole /projects prefix.
IDENTITY_ROUTES = ("/api/v1/tokens", "/api/v1/users", "/api/v1/clients", "/api/v1/projects")


def changes_identity(route: str) -> bool:
    return route.startswith(IDENTITY_ROUTES)


@dataclass
class Identity:
    authenticator: Authenticator
    issuer: IssuerConfig | None
    local_keys: KeyCache | None
    requests: RateLimiter  # per principal
    logins: RateLimiter  # failed logins per client address


def issuer_config(settings: Settings) -> IssuerConfig:
    return IssuerConfig(url=settings.url.rstrip("/"), audience=settings.auth_audience,
                        token_minutes=settings.issuer_token_minutes, refresh_days=settings.issuer_refresh_days,
                        rotation_days=settings.issuer_key_rotation_days)


@asynccontextmanager
async def running(rt: Runtime) -> AsyncIterator[Identity]:
    settings = rt.settings
    if settings.insecure_disable_auth:
        if settings.host not in LOOPBACK:  # a benchmark switch must never open a reachable engine
            raise RuntimeError("DTE_INSECURE_DISABLE_AUTH is for benchmarks on 127.0.0.1 only")
        log.warning("auth_disabled", reason="DTE_INSECURE_DISABLE_AUTH: every caller is a platform admin")
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        caches = {url: KeyCache(remote_jwks(url, http), settings.auth_jwks_refetch_seconds)
                  for url in settings.auth_issuers}
        config = local_keys = None
        if settings.issuer_enabled:
            config = issuer_config(settings)

            async def local_jwks() -> dict[str, Any]:
                async with rt.sessions() as session:
                    return await IssuerService(session, config).jwks()

            local_keys = caches[config.url] = KeyCache(local_jwks, _LOCAL_REFETCH_SECONDS)
            await _first_start(rt, config, local_keys)
        verifier = JwtVerifier(caches, settings.auth_audience, settings.auth_algorithms,
                               settings.auth_leeway_seconds) if caches else None
        rt.identity = Identity(
            authenticator=Authenticator(verifier, config.url if config else None, settings.auth_claims_mapping,
                                        settings.auth_username_claim, PrincipalCache(settings.auth_cache_seconds)),
            issuer=config, local_keys=local_keys, requests=RateLimiter(settings.rate_limit_per_minute),
            logins=RateLimiter(settings.login_failures_per_minute))
        yield rt.identity


async def _first_start(rt: Runtime, config: IssuerConfig, keys: KeyCache) -> None:
    """The bootstrap admin's password for the login page (shown once if random). The first signing
    key is made when the first token is signed, not here: most starts never need one."""
    configured = rt.settings.admin_password.get_secret_value() if rt.settings.admin_password else None
    async with rt.sessions() as session:
        issuer = IssuerService(session, config, keys.forget)
        shown = await issuer.bootstrap_password(ADMIN, configured)
    if shown is not None:
        print_once(ADMIN, shown)
