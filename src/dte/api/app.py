"""The engine's ASGI application: wiring of settings, storage, services and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from anyio import to_thread
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from dte import __version__
from dte.adapters.db.engine import create_async, session_factory, upgrade
from dte.adapters.objects import FsspecObjectStore
from dte.api import openapi, physical, problems
from dte.api import runs as run_engine
from dte.api.audit import AuditTrail
from dte.api.deps import Runtime
from dte.api.identity import running as identity
from dte.api.middleware import BodyLimit, Observe
from dte.api.routers import aai, catalogue, observations, oidc, projects, runs, stream, system, twins, workflows
from dte.services.bootstrap import bootstrap
from dte.services.components import refresh_from_host
from dte.settings import Settings, get_settings

log = structlog.get_logger("dte.engine")

DESCRIPTION = """The REST API of DTE, the Digital Twin Engine.

Every call under `/api/v1` needs `Authorization: Bearer <token>`. Errors are RFC 9457 problem
details (`application/problem+json`) with a stable `code` and, for invalid fields, `errors[].pointer`.
Lists are paged: pass `next_cursor` back as `cursor`.
"""


async def start(settings: Settings, metrics: CollectorRegistry) -> Runtime:
    """Migrate the database, open storage, and create the first admin on an empty engine."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await to_thread.run_sync(upgrade, settings.effective_database_url)
    db = create_async(settings.effective_database_url)
    rt = Runtime(settings=settings, db=db, sessions=session_factory(db),
                 objects=FsspecObjectStore(settings.effective_objects_url), metrics=metrics)
    async with rt.sessions() as session:
        await refresh_from_host(session)  # components of the installed modules, before bundled apps publish
    await bootstrap(rt.sessions, rt.objects, settings)
    return rt


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = app.state.runtime = await start(settings, registry)
        async with AsyncExitStack() as background:
            # Background parts of the engine (compute, triggers, ingest, broker) register here, one
            # line each; they stop in reverse order before the database closes.
            background.push_async_callback(rt.db.dispose)
            await background.enter_async_context(identity(rt))
            await background.enter_async_context(physical.running(app, rt))
            await background.enter_async_context(run_engine.running(rt))
            log.info("engine_started", url=settings.url, version=__version__)
            yield

    app = FastAPI(title="DTE - Digital Twin Engine", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    problems.install(app)
    openapi.install(app)
    for router in (system.router, projects.router, catalogue.router, twins.router, observations.router, oidc.router,
                   aai.router, runs.router, workflows.router, stream.router):
        app.include_router(router)
    app.add_middleware(AuditTrail)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, registry=registry)
    return app
