"""Commands to the physical twin: created by a desired-state change or a declared command, sent
to the device's command topic, and driven through ``pending -> delivered -> applied | failed |
expired`` by the device's acknowledgements and a time-to-live.

A command stays ``pending`` in the database while its device is offline; the dispatcher sends
it again until the device acknowledges it or it expires, so devices de-duplicate by command id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import CommandRow, DeviceRow, ProjectRow, TwinRow
from dte.adapters.db.types import utcnow
from dte.domain.devices import Command, CommandAck, CommandCreate, CommandStatus, Device, check_command_transition
from dte.domain.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from dte.domain.projects import Role, Scope
from dte.services.access import Principal
from dte.services.uow import write

DESIRED = "desired"
DESIRED_TTL = timedelta(minutes=5)
OPEN = (CommandStatus.PENDING, CommandStatus.DELIVERED)


async def queue_commands(session: AsyncSession, twin_id: str, name: str, arguments: dict[str, Any],
                         created_by: str, ttl: timedelta, device: str | None = None) -> list[CommandRow]:
    """One command per target device (the named one, else every unrevoked device of the twin),
    inside the caller's transaction: the change that causes a command and the command commit together."""
    stmt = select(DeviceRow).where(DeviceRow.twin_id == twin_id, DeviceRow.revoked_at.is_(None))
    if device is not None:
        stmt = stmt.where(DeviceRow.name == device)
    devices = list(await session.scalars(stmt.order_by(DeviceRow.name)))
    if device is not None and not devices:
        raise InvalidInput(f"the twin has no active device {device!r}", code="device_not_found",
                           errors=[FieldError("/device", "no such active device")])
    now = utcnow()
    rows = [CommandRow(twin_id=twin_id, device_id=d.id, name=name, arguments=arguments, status=CommandStatus.PENDING,
                       detail="", created_by=created_by[:63], created_at=now, expires_at=now + ttl) for d in devices]
    session.add_all(rows)
    if name == DESIRED:  # a newer desired state supersedes the older one still on its way
        await session.execute(update(CommandRow).where(
            CommandRow.twin_id == twin_id, CommandRow.name == DESIRED, CommandRow.status.in_(OPEN),
            CommandRow.created_at < now).values(status=CommandStatus.FAILED, detail="superseded", completed_at=now))
    await session.flush()
    return rows


def command_out(row: CommandRow) -> Command:
    return Command.model_validate(row)


class CommandService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _twin(self, actor: Principal, twin_id: str, write_access: bool) -> TwinRow:
        row = await self.session.get(TwinRow, twin_id)
        hidden = f"twin {twin_id!r} does not exist"
        if row is None or not actor.can_see(row.project_id):
            raise NotFound(hidden, code="twin_not_found")
        if write_access:
            actor.require(row.project_id, Role.USER, Scope.WRITE, hidden, "twin_not_found")
        return row

    async def create(self, actor: Principal, twin_id: str, body: CommandCreate) -> list[Command]:
        async with write(self.session):
            twin = await self._twin(actor, twin_id, True)
            if twin.status == "retired":
                raise Conflict("the twin is retired", code="twin_retired")
            rows = await queue_commands(self.session, twin_id, body.name, body.arguments, actor.username,
                                        timedelta(seconds=body.ttl_seconds), body.device)
            if not rows:
                raise Conflict("the twin has no active device to send the command to", code="no_device")
        return [command_out(r) for r in rows]

    async def list(self, actor: Principal, twin_id: str, status: CommandStatus | None, limit: int) -> list[Command]:
        await self._twin(actor, twin_id, False)
        stmt = select(CommandRow).where(CommandRow.twin_id == twin_id)
        if status is not None:
            stmt = stmt.where(CommandRow.status == status)
        rows = await self.session.scalars(stmt.order_by(CommandRow.created_at.desc(), CommandRow.id).limit(limit))
        return [command_out(r) for r in rows]

    async def get(self, actor: Principal, twin_id: str, command_id: str) -> Command:
        await self._twin(actor, twin_id, False)
        return command_out(await self._command(twin_id, command_id))

    async def _command(self, twin_id: str, command_id: str) -> CommandRow:
        row = await self.session.get(CommandRow, command_id)
        if row is None or row.twin_id != twin_id:
            raise NotFound(f"command {command_id!r} does not exist", code="command_not_found")
        return row

    async def ack(self, device: Device | None, actor: Principal | None, twin_id: str, command_id: str,
                  body: CommandAck) -> Command:
        """A device (or a user with write access, e.g. an operator) reports the command's progress."""
        async with write(self.session):
            if device is not None:
                if device.twin_id != twin_id:
                    raise Forbidden("this device belongs to another twin", code="wrong_twin")
            else:
                assert actor is not None
                await self._twin(actor, twin_id, True)
            row = await self._command(twin_id, command_id)
            if device is not None and row.device_id != device.id:
                raise Forbidden("the command was sent to another device", code="wrong_device")
            return command_out(apply_ack(row, body.status, body.detail))


def apply_ack(row: CommandRow, status: CommandStatus, detail: str, now: datetime | None = None) -> CommandRow:
    now = now or utcnow()
    current = CommandStatus(row.status)
    if status == current:  # a repeated acknowledgement changes nothing
        return row
    if status in (CommandStatus.PENDING, CommandStatus.EXPIRED):
        raise InvalidInput("a device reports delivered, applied or failed", code="invalid_ack",
                           errors=[FieldError("/status", "delivered, applied or failed")])
    if not current.final and row.expires_at <= now:
        raise Conflict("the command expired before this acknowledgement", code="command_expired")
    check_command_transition(current, status)
    row.status = status
    row.detail = detail
    if status == CommandStatus.DELIVERED:
        row.delivered_at = now
    else:
        row.delivered_at = row.delivered_at or now
        row.completed_at = now
    return row


async def expire(session: AsyncSession) -> int:
    """Mark open commands past their time-to-live ``expired``; how many were."""
    now = utcnow()
    async with write(session):
        result = await session.execute(update(CommandRow).where(
            CommandRow.status.in_(OPEN), CommandRow.expires_at <= now).values(
            status=CommandStatus.EXPIRED, completed_at=now, detail="time-to-live reached"))
    return result.rowcount or 0


async def due(session: AsyncSession, limit: int = 500) -> list[tuple[CommandRow, DeviceRow, str, str]]:
    """Pending commands with their device, twin name and project name: what to (re)send now."""
    rows = await session.execute(
        select(CommandRow, DeviceRow, TwinRow.name, ProjectRow.name)
        .join(DeviceRow, DeviceRow.id == CommandRow.device_id)
        .join(TwinRow, TwinRow.id == CommandRow.twin_id)
        .join(ProjectRow, ProjectRow.id == TwinRow.project_id)
        .where(CommandRow.status == CommandStatus.PENDING, CommandRow.expires_at > utcnow())
        .order_by(CommandRow.created_at).limit(limit))
    return [(c, d, t, p) for c, d, t, p in rows.all()]
