"""FastAPI dependencies: the engine's shared resources, a session per request, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from dte.domain.errors import FieldError, InvalidInput, Unauthenticated
from dte.services.access import Principal
from dte.services.catalogue import CatalogueService
from dte.services.events import EventBus
from dte.services.executor import RunEngine
from dte.services.ports import ObjectStore
from dte.services.projects import ProjectService, UserService
from dte.services.twins import TwinService
from dte.settings import Settings

if TYPE_CHECKING:
    from dte.api.identity import Identity


@dataclass
class Runtime:
    """What one running engine shares between requests."""

    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    objects: ObjectStore
    metrics: CollectorRegistry
    events: EventBus = field(default_factory=EventBus)
    runs: RunEngine | None = None  # compute, signer and executor; set by dte.api.runs.running in the lifespan
    identity: Identity | None = None  # set by dte.api.identity.running in the lifespan


def runtime(request: HTTPConnection) -> Runtime:  # HTTPConnection: WebSocket routes use these dependencies too
    return request.app.state.runtime


async def session(rt: Annotated[Runtime, Depends(runtime)]) -> AsyncIterator[AsyncSession]:
    async with rt.sessions() as s:
        s.info["runtime"] = rt  # so principal() finds the engine's identity wiring from the session alone
        yield s


Session = Annotated[AsyncSession, Depends(session)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def principal(
    db: Session,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    request: Request = None,  # type: ignore[assignment]  # FastAPI injects it; direct callers may leave it out
) -> Principal:
    """The caller, from a personal access token or a JWT of a trusted issuer; then their rate limit.

    The principal is kept in ``request.state`` for the audit middleware."""
    rt: Runtime = db.info["runtime"]
    if rt.settings.insecure_disable_auth:  # benchmarks only (see benchmarks/auth_overhead.py)
        found = Principal(user_id="", username="anonymous", platform_admin=True)
    else:
        found = await _authenticate(rt, db, authorization)
    if request is not None:
        request.state.principal = found
    if rt.identity is not None:
        rt.identity.requests.take(found.user_id)
    return found


async def _authenticate(rt: Runtime, db: AsyncSession, authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthenticated("send 'Authorization: Bearer <token>'; create a token with 'dte token create'",
                              code="missing_token")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", code="invalid_token")
    if rt.identity is None:
        return await UserService(db).authenticate(credential.strip())
    return await rt.identity.authenticator.principal(db, credential.strip())


Caller = Annotated[Principal, Depends(principal)]


def users(db: Session) -> UserService:
    return UserService(db)


def projects(db: Session, rt: RuntimeDep) -> ProjectService:
    return ProjectService(db, rt.settings.allow_project_creation)


def catalogue(db: Session, rt: RuntimeDep) -> CatalogueService:
    return CatalogueService(db, rt.objects, rt.settings.max_bundle_bytes)


def twins(db: Session, cat: Annotated[CatalogueService, Depends(catalogue)]) -> TwinService:
    return TwinService(db, cat)


Users = Annotated[UserService, Depends(users)]
Projects = Annotated[ProjectService, Depends(projects)]
Catalogue = Annotated[CatalogueService, Depends(catalogue)]
Twins = Annotated[TwinService, Depends(twins)]


def utc(value: datetime | None, name: str) -> datetime | None:
    """Query times without a zone are taken as UTC; a time with a zone must exist in UTC too."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before the first UTC datetime
        raise InvalidInput(f"{name} is out of range", errors=[FieldError(f"/{name}", "out of range in UTC", "query")]) from None
