"""Devices of a twin: registration with a one-time secret, revocation, and authentication."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import ApplicationVersionRow, DeviceRow, ProjectRow, TwinRow
from dte.adapters.db.types import utcnow
from dte.domain import devices as m
from dte.domain.devices import DEVICE_SECRET_PREFIX
from dte.domain.errors import Conflict, FieldError, InvalidInput, NotFound, Unauthenticated
from dte.domain.manifest import AppManifest
from dte.domain.projects import Role, Scope
from dte.services.access import Principal
from dte.services.catalogue import manifest_of
from dte.services.projects import hash_secret
from dte.services.uow import write


@dataclass(frozen=True)
class TwinContext:
    """What ingest needs to know about a twin; the manifest of a twin never changes."""

    twin_id: str
    twin_name: str
    project_id: str
    project: str
    manifest: AppManifest
    status: str


async def twin_context(session: AsyncSession, twin_id: str) -> TwinContext | None:
    found = (await session.execute(
        select(TwinRow, ProjectRow.name, ApplicationVersionRow)
        .join(ProjectRow, ProjectRow.id == TwinRow.project_id)
        .join(ApplicationVersionRow, ApplicationVersionRow.id == TwinRow.application_version_id)
        .where(TwinRow.id == twin_id)
    )).first()
    if found is None:
        return None
    twin, project, version = found
    return TwinContext(twin.id, twin.name, twin.project_id, project, manifest_of(version), twin.status)


async def twin_by_names(session: AsyncSession, project: str, twin: str) -> str | None:
    """The id of ``project/twin`` (as MQTT topics name twins), or None."""
    return await session.scalar(select(TwinRow.id).join(ProjectRow, ProjectRow.id == TwinRow.project_id)
                                .where(ProjectRow.name == project, TwinRow.name == twin))


def _out(row: DeviceRow) -> m.Device:
    return m.Device.model_validate(row)


class DeviceService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _twin(self, actor: Principal, twin_id: str, role: Role | None, scope: Scope) -> TwinContext:
        context = await twin_context(self.session, twin_id)
        hidden = f"twin {twin_id!r} does not exist"
        if context is None or not actor.can_see(context.project_id):
            raise NotFound(hidden, code="twin_not_found")
        if role is not None:
            actor.require(context.project_id, role, scope, hidden, "twin_not_found")
        return context

    async def create(self, actor: Principal, twin_id: str, body: m.DeviceCreate) -> m.DeviceSecret:
        """Register a device; its secret is returned here once and only its sha256 is kept."""
        async with write(self.session):
            twin = await self._twin(actor, twin_id, Role.USER, Scope.WRITE)
            declared = {c.name for c in twin.manifest.channels}
            unknown = [FieldError(f"/channels/{i}", f"the application declares no channel {c!r}")
                       for i, c in enumerate(body.channels) if c not in declared]
            if unknown:
                raise InvalidInput("the device names unknown channels", code="invalid_channels", errors=unknown)
            if await self.session.scalar(select(DeviceRow.id).where(DeviceRow.twin_id == twin_id,
                                                                    DeviceRow.name == body.name)):
                raise Conflict(f"the twin already has a device named {body.name!r}", code="device_exists")
            secret = DEVICE_SECRET_PREFIX + secrets.token_urlsafe(32)
            row = DeviceRow(twin_id=twin_id, project_id=twin.project_id, name=body.name,
                            description=body.description, channels=sorted(set(body.channels)),
                            secret_sha256=hash_secret(secret), created_by=actor.username, created_at=utcnow())
            self.session.add(row)
            await self.session.flush()
        return m.DeviceSecret(**_out(row).model_dump(), secret=secret)

    async def list(self, actor: Principal, twin_id: str) -> list[m.Device]:
        await self._twin(actor, twin_id, None, Scope.READ)
        rows = await self.session.scalars(select(DeviceRow).where(DeviceRow.twin_id == twin_id)
                                          .order_by(DeviceRow.name))
        return [_out(r) for r in rows]

    async def get(self, actor: Principal, twin_id: str, name: str) -> m.Device:
        await self._twin(actor, twin_id, None, Scope.READ)
        return _out(await self._device(twin_id, name))

    async def _device(self, twin_id: str, name: str) -> DeviceRow:
        row = await self.session.scalar(select(DeviceRow).where(DeviceRow.twin_id == twin_id, DeviceRow.name == name))
        if row is None:
            raise NotFound(f"the twin has no device {name!r}", code="device_not_found")
        return row

    async def revoke(self, actor: Principal, twin_id: str, name: str) -> m.Device:
        async with write(self.session):
            await self._twin(actor, twin_id, Role.USER, Scope.WRITE)
            row = await self._device(twin_id, name)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return _out(row)

    async def authenticate(self, secret: str) -> m.Device:
        """The device behind a device secret, or :class:`Unauthenticated`."""
        if not secret.startswith(DEVICE_SECRET_PREFIX) or len(secret) > 200:
            raise Unauthenticated("not a device secret", code="invalid_token")
        row = await self.session.scalar(select(DeviceRow).where(DeviceRow.secret_sha256 == hash_secret(secret)))
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("the device secret is not valid or was revoked", code="invalid_token")
        return _out(row)
