"""The catalogue of DT applications: publish immutable versions, search, pull, deprecate."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from anyio import to_thread
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import ApplicationRow, ApplicationVersionRow, ArtifactRow, ProjectRow
from dte.adapters.db.types import utcnow
from dte.domain import catalogue as m
from dte.domain.bundle import canonicalize
from dte.domain.errors import Conflict, InvalidInput, NotFound
from dte.domain.manifest import AppManifest
from dte.domain.projects import Role, Scope
from dte.domain.semver import Version
from dte.services.access import Principal
from dte.services.components import application_workflows
from dte.services.paging import page
from dte.services.ports import ObjectStore
from dte.services.projects import project_by_name
from dte.services.uow import write

BUNDLE_MEDIA_TYPE = "application/gzip"


_MANIFESTS: OrderedDict[str, AppManifest] = OrderedDict()
_MANIFEST_CACHE_SIZE = 1024


def manifest_of(version: ApplicationVersionRow) -> AppManifest:
    """The typed manifest of a published version. Versions are immutable, so each is validated once
    per process (by version id) instead of on every request that touches a twin."""
    cached = _MANIFESTS.get(version.id)
    if cached is None:
        cached = AppManifest.model_validate(version.manifest)
        _MANIFESTS[version.id] = cached
        if len(_MANIFESTS) > _MANIFEST_CACHE_SIZE:
            _MANIFESTS.popitem(last=False)
    else:
        _MANIFESTS.move_to_end(version.id)
    return cached


def _visible(stmt: Select, actor: Principal) -> Select:
    projects = actor.visible_projects()
    if projects is None:
        return stmt
    return stmt.where(or_(ApplicationRow.visibility == m.Visibility.PUBLIC, ApplicationRow.project_id.in_(projects)))


def _search_text(manifest: AppManifest) -> str:
    return " ".join([manifest.name, manifest.summary, manifest.description, *manifest.tags]).lower()


def _latest(versions: list[ApplicationVersionRow]) -> str | None:
    """Highest non-deprecated release; pre-releases only when there is nothing else."""
    live = [Version.parse(v.version) for v in versions if not v.deprecated]
    releases = [v for v in live if not v.is_prerelease] or live
    return str(max(releases, key=Version.precedence)) if releases else None


class CatalogueService:
    def __init__(self, session: AsyncSession, objects: ObjectStore, max_bundle_bytes: int) -> None:
        self.session = session
        self.objects = objects
        self.max_bundle_bytes = max_bundle_bytes

    async def _app(self, actor: Principal, name: str) -> tuple[ApplicationRow, str]:
        row = (await self.session.execute(
            _visible(select(ApplicationRow, ProjectRow.name), actor)
            .join(ProjectRow, ProjectRow.id == ApplicationRow.project_id)
            .where(ApplicationRow.name == name)
        )).first()
        if row is None:
            raise NotFound(f"application {name!r} does not exist", code="application_not_found")
        return row[0], row[1]

    def _app_out(self, row: ApplicationRow, project: str) -> m.Application:
        return m.Application(id=row.id, name=row.name, project=project, visibility=m.Visibility(row.visibility),
                             summary=row.summary, tags=row.tags, latest_version=row.latest_version,
                             created_at=row.created_at, updated_at=row.updated_at)

    async def _version_rows(self, app: ApplicationRow) -> list[ApplicationVersionRow]:
        rows = (await self.session.scalars(
            select(ApplicationVersionRow).where(ApplicationVersionRow.application_id == app.id)
        )).all()
        return sorted(rows, key=lambda r: Version.parse(r.version).precedence(), reverse=True)

    async def _version_out(self, app: ApplicationRow, row: ApplicationVersionRow) -> m.ApplicationVersion:
        size = await self.session.scalar(select(ArtifactRow.size).where(ArtifactRow.sha256 == row.bundle_sha256))
        return m.ApplicationVersion(
            id=row.id, application=app.name, version=row.version, summary=row.manifest.get("summary", ""),
            manifest=row.manifest, bundle_sha256=row.bundle_sha256, bundle_size=size or 0,
            published_by=row.published_by, published_at=row.published_at, deprecated=row.deprecated,
            deprecation_message=row.deprecation_message,
        )

    async def publish(self, actor: Principal, project_name: str, bundle: bytes,
                      visibility: m.Visibility = m.Visibility.PRIVATE) -> m.PublishResult:
        """Publish a bundle as a new immutable version; re-publishing identical content is a no-op."""
        manifest, index, canonical = await to_thread.run_sync(canonicalize, bundle, self.max_bundle_bytes)
        own = {c.ref: c for c in index.components}
        async with write(self.session):
            project = await project_by_name(self.session, actor, project_name)
            actor.require(project.id, Role.DEVELOPER, Scope.WRITE, "")
            await application_workflows(self.session, manifest, own)  # every workflow checked before it can run
            app = await self.session.scalar(
                select(ApplicationRow).where(ApplicationRow.name == manifest.name).with_for_update()
            )
            if app is not None and app.project_id != project.id:
                raise Conflict(f"the application name {manifest.name!r} is taken by another project",
                               code="application_name_taken")
            sha256 = hashlib.sha256(canonical).hexdigest()
            if app is None:
                app = ApplicationRow(name=manifest.name, project_id=project.id, visibility=visibility)
                self.session.add(app)
                await self.session.flush()
            versions = await self._version_rows(app)
            existing = next((v for v in versions if v.version == manifest.version), None)
            if existing is not None:
                if existing.bundle_sha256 != sha256:
                    raise Conflict(
                        f"{manifest.name} {manifest.version} is already published with different content; "
                        "published versions are immutable - bump the version",
                        code="version_exists",
                    )
                return m.PublishResult(created=False, version=await self._version_out(app, existing))
            await self.objects.put(canonical)  # only now: a refused publish leaves no object behind
            if await self.session.get(ArtifactRow, sha256) is None:
                self.session.add(ArtifactRow(sha256=sha256, size=len(canonical), media_type=BUNDLE_MEDIA_TYPE))
                await self.session.flush()
            row = ApplicationVersionRow(
                application_id=app.id, version=manifest.version, bundle_sha256=sha256,
                manifest=manifest.model_dump(mode="json"), published_by=actor.username,
                components=[c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in index.components],
            )
            self.session.add(row)
            await self.session.flush()
            self._refresh(app, [*versions, row])
            return m.PublishResult(created=True, version=await self._version_out(app, row))

    def _refresh(self, app: ApplicationRow, versions: list[ApplicationVersionRow]) -> None:
        """Denormalised fields of the application: latest version and its searchable text."""
        app.latest_version = _latest(versions)
        newest = next((v for v in versions if v.version == app.latest_version), None) or max(
            versions, key=lambda v: Version.parse(v.version).precedence())
        manifest = manifest_of(newest)
        app.summary, app.tags, app.search_text = manifest.summary, manifest.tags, _search_text(manifest)
        app.tag_index = "|" + "|".join(manifest.tags) + "|"
        app.updated_at = utcnow()

    async def search(self, actor: Principal, q: str | None, tag: str | None, project: str | None,
                     cursor: str | None, limit: int) -> tuple[list[m.Application], str | None]:
        stmt = _visible(select(ApplicationRow), actor)
        if q:
            for word in q.lower().split():
                stmt = stmt.where(ApplicationRow.search_text.contains(word, autoescape=True))
        if project:
            # By name, without a membership check: _visible already limits the rows, and an unknown
            # project simply matches nothing (so the answer does not reveal which projects exist).
            owner = select(ProjectRow.id).where(ProjectRow.name == project).scalar_subquery()
            stmt = stmt.where(ApplicationRow.project_id == owner)
        if tag:
            stmt = stmt.where(ApplicationRow.tag_index.contains(f"|{tag}|", autoescape=True))
        rows, next_cursor = await page(self.session, stmt, ApplicationRow.name, cursor, limit)
        names = await self._project_names({r.project_id for r in rows})
        return [self._app_out(r, names[r.project_id]) for r in rows], next_cursor

    async def _project_names(self, ids: set[str]) -> dict[str, str]:
        result = await self.session.execute(select(ProjectRow.id, ProjectRow.name).where(ProjectRow.id.in_(ids)))
        return dict(result.all())

    async def get(self, actor: Principal, name: str) -> m.Application:
        return self._app_out(*await self._app(actor, name))

    async def update(self, actor: Principal, name: str, body: m.ApplicationUpdate) -> m.Application:
        async with write(self.session):
            app, project = await self._app(actor, name)
            actor.require(app.project_id, Role.DEVELOPER, Scope.WRITE, f"application {name!r} does not exist",
                          "application_not_found")
            app.visibility = body.visibility
            app.updated_at = utcnow()
        return self._app_out(app, project)

    async def versions(self, actor: Principal, name: str) -> list[m.ApplicationVersion]:
        app, _ = await self._app(actor, name)
        return [await self._version_out(app, v) for v in await self._version_rows(app)]

    async def resolve(self, actor: Principal, name: str, version: str | None) -> tuple[ApplicationRow, ApplicationVersionRow]:
        """The application and version a name refers to; ``None`` or ``latest`` means the latest."""
        app, _ = await self._app(actor, name)
        wanted = app.latest_version if version in (None, "latest") else version
        row = None
        if wanted is not None:
            row = await self.session.scalar(select(ApplicationVersionRow).where(
                ApplicationVersionRow.application_id == app.id, ApplicationVersionRow.version == wanted))
        if row is None:
            what = f"version {version!r}" if version not in (None, "latest") else "non-deprecated version"
            raise NotFound(f"application {name!r} has no {what}", code="version_not_found")
        return app, row

    async def version(self, actor: Principal, name: str, version: str) -> m.ApplicationVersion:
        app, row = await self.resolve(actor, name, version)
        return await self._version_out(app, row)

    async def bundle(self, actor: Principal, name: str, version: str) -> tuple[str, str, bytes]:
        """The resolved version, its bundle's sha256 and the bundle bytes (verified on read)."""
        _, row = await self.resolve(actor, name, version)
        return row.version, row.bundle_sha256, await self.objects.get(row.bundle_sha256)

    async def update_version(self, actor: Principal, name: str, version: str, body: m.VersionUpdate) -> m.ApplicationVersion:
        async with write(self.session):
            app, row = await self.resolve(actor, name, version)
            actor.require(app.project_id, Role.DEVELOPER, Scope.WRITE, f"application {name!r} does not exist",
                          "application_not_found")
            if body.deprecated and not body.deprecation_message.strip():
                raise InvalidInput("say why the version is deprecated (deprecation_message)", code="invalid_input")
            row.deprecated = body.deprecated
            row.deprecation_message = body.deprecation_message if body.deprecated else ""
            self._refresh(app, await self._version_rows(app))
            return await self._version_out(app, row)

