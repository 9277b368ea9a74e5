"""Twins: create from an application version, lifecycle, versioned reported/desired state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import (
    ApplicationRow,
    ApplicationVersionRow,
    ProjectRow,
    TwinRevisionRow,
    TwinRow,
)
from dte.adapters.db.types import utcnow
from dte.domain import twins as m
from dte.domain.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed
from dte.domain.manifest import AppManifest
from dte.domain.merge_patch import merge_patch
from dte.domain.projects import Role, Scope
from dte.domain.twins import TwinStatus, check_transition
from dte.domain.validation import apply_defaults, json_value_errors, schema_errors
from dte.services.access import Principal
from dte.services.catalogue import CatalogueService, manifest_of
from dte.services.commands import DESIRED, DESIRED_TTL, queue_commands
from dte.services.paging import page
from dte.services.projects import project_by_name
from dte.services.uow import write

StateKind = Literal["reported", "desired"]


def validate_parameters(manifest: AppManifest, parameters: dict[str, Any]) -> dict[str, Any]:
    filled = apply_defaults(manifest.parameters, parameters)
    errors = json_value_errors(filled, "/parameters") or schema_errors(manifest.parameters, filled, "/parameters")
    if errors:
        raise InvalidInput(f"the parameters do not satisfy {manifest.name} {manifest.version}'s schema",
                           code="invalid_parameters", errors=errors)
    return filled


def validate_bindings(manifest: AppManifest, bindings: dict[str, m.ChannelBinding]) -> dict[str, Any]:
    declared = {c.name for c in manifest.channels}
    unknown = [FieldError(f"/bindings/{name}", f"the application declares no channel {name!r}; "
                          f"declared: {', '.join(sorted(declared)) or 'none'}")
               for name in bindings if name not in declared]
    if unknown:
        raise InvalidInput("bindings name unknown channels", code="invalid_bindings", errors=unknown)
    return {name: b.model_dump(exclude_none=True) for name, b in bindings.items()}


def validate_desired(manifest: AppManifest, desired: dict[str, Any]) -> None:
    if manifest.desired_state is None:
        return
    errors = schema_errors(manifest.desired_state, desired, prefix="/desired")
    if errors:
        raise InvalidInput("the desired state does not satisfy the application's desired_state schema",
                           code="invalid_state", errors=errors)


def _check_etag(if_match: str | None, revision: int) -> None:
    """``If-Match`` holds a revision ETag (``"7"`` or ``W/"7"``), a list of them, or ``*``."""
    if if_match is None or if_match.strip() == "*":
        return
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
    if str(revision) not in tags:
        raise PreconditionFailed(
            f"the twin changed: it is at revision {revision}, not {if_match}; re-read it and retry",
            code="revision_mismatch",
        )


def snapshot(row: TwinRow, change: str, changed_by: str, at: datetime) -> TwinRevisionRow:
    return TwinRevisionRow(twin_id=row.id, revision=row.revision, reported=row.reported, desired=row.desired,
                           parameters=row.parameters, bindings=row.bindings, status=row.status, change=change,
                           changed_by=changed_by[:63], changed_at=at)


async def bump_revision(session: AsyncSession, row: TwinRow, change: str, changed_by: str) -> int:
    """New revision with its snapshot, guarded against a concurrent writer (compare-and-set on the
    revision). Shared by the twin use cases and by ingest, which updates the reported state."""
    now = utcnow()
    row.revision = row.revision + 1
    row.updated_at = now
    session.add(snapshot(row, change, changed_by, now))
    try:
        await session.flush()
    except IntegrityError:  # the snapshot's key (twin, revision) is taken: a concurrent writer won
        raise PreconditionFailed("the twin was changed concurrently; re-read it and retry",
                                 code="revision_mismatch") from None
    return row.revision


class TwinService:
    def __init__(self, session: AsyncSession, catalogue: CatalogueService) -> None:
        self.session = session
        self.catalogue = catalogue

    async def _load(self, actor: Principal, twin_id: str, role: Role | None = None,
                    scope: Scope = Scope.READ) -> tuple[TwinRow, AppManifest, str]:
        # Writers lock the row (PostgreSQL) so concurrent updates queue instead of colliding;
        # SQLite gets the same effect from BEGIN IMMEDIATE.
        row = await self.session.get(TwinRow, twin_id, with_for_update=scope == Scope.WRITE)
        hidden = f"twin {twin_id!r} does not exist"
        if row is None or not actor.can_see(row.project_id):
            raise NotFound(hidden, code="twin_not_found")
        if role is not None:
            actor.require(row.project_id, role, scope, hidden, "twin_not_found")
        version = await self.session.get(ApplicationVersionRow, row.application_version_id)
        project = await self.session.get(ProjectRow, row.project_id)
        assert version is not None and project is not None
        return row, manifest_of(version), project.name

    async def locate(self, actor: Principal, reference: str, role: Role | None = None, scope: Scope = Scope.READ
                     ) -> tuple[TwinRow, ApplicationVersionRow, AppManifest, str]:
        """A twin by id or ``PROJECT/NAME``, access checked, with its application version."""
        project_name, sep, name = reference.partition("/")
        twin_id = reference
        if sep:
            found = await self.session.scalar(select(TwinRow.id).join(ProjectRow, ProjectRow.id == TwinRow.project_id)
                                              .where(ProjectRow.name == project_name, TwinRow.name == name))
            twin_id = found or reference
        row, manifest, project = await self._load(actor, twin_id, role, scope)
        version = await self.session.get(ApplicationVersionRow, row.application_version_id)
        assert version is not None
        return row, version, manifest, project

    def _out(self, row: TwinRow, manifest: AppManifest, project: str) -> m.Twin:
        return m.Twin(id=row.id, project=project, name=row.name, application=manifest.name,
                      version=manifest.version, description=row.description, parameters=row.parameters,
                      bindings=row.bindings, status=TwinStatus(row.status), revision=row.revision,
                      created_at=row.created_at, updated_at=row.updated_at)

    def _snapshot(self, row: TwinRow, change: str, actor: Principal, at: datetime) -> TwinRevisionRow:
        return snapshot(row, change, actor.username, at)

    async def create(self, actor: Principal, body: m.TwinCreate) -> m.Twin:
        async with write(self.session):
            project = await project_by_name(self.session, actor, body.project)
            actor.require(project.id, Role.USER, Scope.WRITE, "")
            app, version = await self.catalogue.resolve(actor, body.application, body.version)
            if version.deprecated:
                raise Conflict(f"{app.name} {version.version} is deprecated: {version.deprecation_message}",
                               code="version_deprecated")
            manifest = manifest_of(version)
            parameters = validate_parameters(manifest, body.parameters)
            bindings = validate_bindings(manifest, body.bindings)
            if await self.session.scalar(select(TwinRow.id).where(TwinRow.project_id == project.id,
                                                                 TwinRow.name == body.name)):
                raise Conflict(f"project {project.name!r} already has a twin named {body.name!r}", code="twin_exists")
            if body.status == TwinStatus.RETIRED:
                raise InvalidInput("a twin cannot be created retired", code="invalid_transition",
                                   errors=[FieldError("/status", "use created or active")])
            now = utcnow()
            row = TwinRow(project_id=project.id, name=body.name, application_version_id=version.id,
                          description=body.description, parameters=parameters, bindings=bindings,
                          status=body.status, revision=1, reported={}, desired={}, created_at=now, updated_at=now)
            self.session.add(row)
            await self.session.flush()
            self.session.add(self._snapshot(row, "created", actor, now))
        return self._out(row, manifest, project.name)

    async def list(self, actor: Principal, project: str | None, application: str | None,
                   status: TwinStatus | None, cursor: str | None, limit: int,
                   name: str | None = None) -> tuple[list[m.Twin], str | None]:
        stmt = select(TwinRow)
        if name is not None:
            stmt = stmt.where(TwinRow.name == name)
        if project is not None:
            stmt = stmt.where(TwinRow.project_id == (await project_by_name(self.session, actor, project)).id)
        visible = actor.visible_projects()
        if visible is not None:
            stmt = stmt.where(TwinRow.project_id.in_(visible))
        if application is not None:
            stmt = stmt.where(TwinRow.application_version_id.in_(
                select(ApplicationVersionRow.id).join(ApplicationRow).where(ApplicationRow.name == application)))
        if status is not None:
            stmt = stmt.where(TwinRow.status == status)
        rows, next_cursor = await page(self.session, stmt, TwinRow.id, cursor, limit)
        versions = {v.id: manifest_of(v) for v in (await self.session.scalars(
            select(ApplicationVersionRow).where(ApplicationVersionRow.id.in_({r.application_version_id for r in rows}))
        ))}
        names = dict((await self.session.execute(select(ProjectRow.id, ProjectRow.name).where(
            ProjectRow.id.in_({r.project_id for r in rows})))).all())
        return [self._out(r, versions[r.application_version_id], names[r.project_id]) for r in rows], next_cursor

    async def get(self, actor: Principal, twin_id: str) -> m.Twin:
        return self._out(*await self._load(actor, twin_id))

    async def update(self, actor: Principal, twin_id: str, body: m.TwinUpdate, if_match: str | None) -> m.Twin:
        async with write(self.session):
            row, manifest, project = await self._load(actor, twin_id, Role.USER, Scope.WRITE)
            _check_etag(if_match, row.revision)
            changes = []
            if body.status is not None and body.status != row.status:
                check_transition(TwinStatus(row.status), body.status)
                row.status = body.status
                changes.append("status")
            elif row.status == TwinStatus.RETIRED:
                raise Conflict("the twin is retired; it cannot change any more", code="twin_retired")
            if body.parameters is not None:
                row.parameters = validate_parameters(manifest, body.parameters)
                changes.append("parameters")
            if body.bindings is not None:
                row.bindings = validate_bindings(manifest, body.bindings)
                changes.append("bindings")
            if body.description is not None:
                row.description = body.description
                changes.append("description")
            if changes:
                await self._bump(row, ",".join(changes), actor)
        return self._out(row, manifest, project)

    async def _bump(self, row: TwinRow, change: str, actor: Principal) -> None:
        """New revision, guarded against a concurrent writer (compare-and-set on the revision)."""
        await bump_revision(self.session, row, change, actor.username)

    async def state(self, actor: Principal, twin_id: str, as_of: datetime | None = None) -> m.TwinState:
        row, _, _ = await self._load(actor, twin_id)
        stmt = select(TwinRevisionRow).where(TwinRevisionRow.twin_id == row.id)
        if as_of is not None:
            stmt = stmt.where(TwinRevisionRow.changed_at <= as_of)
        rev = await self.session.scalar(stmt.order_by(TwinRevisionRow.revision.desc()).limit(1))
        if rev is None:
            raise NotFound(f"twin {twin_id!r} did not exist at {as_of.isoformat() if as_of else 'that time'}",
                           code="state_not_found")
        return self._state_out(rev)

    def _state_out(self, rev: TwinRevisionRow) -> m.TwinState:
        return m.TwinState(twin_id=rev.twin_id, revision=rev.revision, reported=rev.reported, desired=rev.desired,
                           parameters=rev.parameters, bindings=rev.bindings, status=TwinStatus(rev.status),
                           changed_at=rev.changed_at,
                           changed_by=rev.changed_by, change=rev.change)

    async def set_state(self, actor: Principal, twin_id: str, kind: StateKind, document: dict[str, Any],
                        merge: bool, if_match: str | None) -> m.TwinState:
        """Replace (or JSON-merge-patch) the reported or desired document as one new revision."""
        async with write(self.session):
            row, manifest, _ = await self._load(actor, twin_id, Role.USER, Scope.WRITE)
            _check_etag(if_match, row.revision)
            if row.status == TwinStatus.RETIRED:
                raise Conflict("the twin is retired; its state cannot change", code="twin_retired")
            not_json = json_value_errors(document, prefix=f"/{kind}")
            if not_json:  # NaN, Infinity, NUL: one database would refuse them, the other change them
                raise InvalidInput("the state document is not plain JSON", code="invalid_state", errors=not_json)
            current = row.reported if kind == "reported" else row.desired
            updated = merge_patch(current, document) if merge else document
            if kind == "desired":
                validate_desired(manifest, updated)
                row.desired = updated
                # the change goes to the physical twin as a command, committed with the change itself
                await queue_commands(self.session, row.id, DESIRED, updated, actor.username, DESIRED_TTL)
            else:
                row.reported = updated
            await self._bump(row, kind, actor)
            rev = await self.session.get(TwinRevisionRow, (row.id, row.revision))
            assert rev is not None
            return self._state_out(rev)

    async def history(self, actor: Principal, twin_id: str, since: datetime | None, until: datetime | None,
                      cursor: str | None, limit: int) -> tuple[list[m.TwinState], str | None]:
        row, _, _ = await self._load(actor, twin_id)
        stmt = select(TwinRevisionRow).where(TwinRevisionRow.twin_id == row.id)
        if since is not None:
            stmt = stmt.where(TwinRevisionRow.changed_at >= since)
        if until is not None:
            stmt = stmt.where(TwinRevisionRow.changed_at <= until)
        rows, next_cursor = await page(self.session, stmt, TwinRevisionRow.revision, cursor, limit, descending=True)
        return [self._state_out(r) for r in rows], next_cursor

