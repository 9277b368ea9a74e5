"""First start of an engine: the platform admin, and the bundled applications in the catalogue."""

from __future__ import annotations

import sys

import structlog
from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dte.adapters.db.tables import UserRow
from dte.domain.catalogue import Visibility
from dte.domain.errors import DteError, NotFound
from dte.domain.manifest import MANIFEST_FILE
from dte.domain.projects import ProjectCreate, Scope
from dte.fileutil import write_private
from dte.sdk.build import build_bundle
from dte.services.access import Principal
from dte.services.catalogue import CatalogueService
from dte.services.ports import ObjectStore
from dte.services.projects import ProjectService, UserService
from dte.settings import Settings

ADMIN = "admin"
TOKEN_FILE = "admin.token"
log = structlog.get_logger("dte.bootstrap")


async def bootstrap(sessions: async_sessionmaker[AsyncSession], objects: ObjectStore, settings: Settings) -> None:
    configured = settings.admin_token.get_secret_value() if settings.admin_token else None
    async with sessions() as session:
        secret = await UserService(session).bootstrap(ADMIN, configured)
    if secret is not None:
        token_file = settings.data_dir / TOKEN_FILE
        await to_thread.run_sync(write_private, token_file, secret + "\n")
        if configured is None:
            # Shown once, on the console only (never through the logger): the operator's first key.
            print(f"\nDTE first start: created platform admin {ADMIN!r}.\n"
                  f"Admin token (shown once, also saved to {token_file} with mode 600):\n  {secret}\n",
                  file=sys.stderr, flush=True)
    if settings.bundled_apps_dir is not None:
        await publish_bundled(sessions, objects, settings)


async def publish_bundled(sessions: async_sessionmaker[AsyncSession], objects: ObjectStore, settings: Settings) -> None:
    """Publish every ``<dir>/*/dte-app.yaml`` as a public application of the bundled-apps project."""
    directory = settings.bundled_apps_dir
    assert directory is not None
    apps = sorted(p.parent for p in directory.glob(f"*/{MANIFEST_FILE}"))
    async with sessions() as session:
        admin = await session.scalar(select(UserRow).where(UserRow.username == ADMIN, UserRow.platform_admin))
        if admin is None:
            log.warning("bundled_apps_skipped", reason=f"no platform admin named {ADMIN!r}")
            return
        actor = Principal(user_id=admin.id, username=admin.username, platform_admin=True, scopes=frozenset(Scope))
        projects = ProjectService(session)
        try:
            await projects.get(actor, settings.bundled_apps_project)
        except NotFound:
            await projects.create(actor, ProjectCreate(name=settings.bundled_apps_project,
                                                       title="Bundled DT applications"))
        catalogue = CatalogueService(session, objects, settings.max_bundle_bytes)
        for path in apps:
            try:
                bundle = await to_thread.run_sync(build_bundle, path)
                result = await catalogue.publish(actor, settings.bundled_apps_project, bundle, Visibility.PUBLIC)
            except DteError as exc:
                log.error("bundled_app_failed", path=str(path), error=str(exc))
                continue
            if result.created:
                log.info("bundled_app_published", name=result.version.application, version=result.version.version)
