"""Devices (physical-twin data sources with their own credential) and commands sent to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from dte.domain.common import Input, Resource
from dte.domain.errors import Conflict
from dte.domain.manifest import Name

DEVICE_SECRET_PREFIX = "dte_dev_"


class DeviceCreate(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    channels: list[Name] = Field(default_factory=list, max_length=200,
                                 description="channels the device may publish; empty: all of the twin's")


class Device(Resource):
    id: str
    twin_id: str
    project_id: str
    name: str
    description: str
    channels: list[str]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_seen_at: datetime | None = None


class DeviceSecret(Device):
    """Returned once, at registration: the secret is not stored and cannot be shown again."""

    secret: str = Field(description="the device's credential: HTTP 'Authorization: Bearer', MQTT password")


class CommandStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    APPLIED = "applied"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in (CommandStatus.APPLIED, CommandStatus.FAILED, CommandStatus.EXPIRED)


_NEXT = {
    CommandStatus.PENDING: {CommandStatus.DELIVERED, CommandStatus.APPLIED, CommandStatus.FAILED,
                            CommandStatus.EXPIRED},
    CommandStatus.DELIVERED: {CommandStatus.APPLIED, CommandStatus.FAILED, CommandStatus.EXPIRED},
}


def check_command_transition(current: CommandStatus, target: CommandStatus) -> None:
    """Lifecycle ``pending -> delivered -> applied | failed | expired``; final states stay final.
    A device may skip ``delivered`` (it applied the command at once)."""
    if target not in _NEXT.get(current, set()):
        raise Conflict(f"a command cannot go from {current} to {target}", code="invalid_command_transition")


class CommandCreate(Input):
    name: Name = Field(description="'desired' for a desired-state change, else a command the device understands")
    arguments: dict[str, Any] = Field(default_factory=dict)
    device: str | None = Field(default=None, description="device name; default: every device of the twin gets it")
    ttl_seconds: float = Field(default=300, gt=0, le=7 * 86_400, description="expires if not applied by then")


class Command(Resource):
    id: str
    twin_id: str
    device_id: str | None
    name: str
    arguments: dict[str, Any]
    status: CommandStatus
    detail: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    delivered_at: datetime | None = None
    completed_at: datetime | None = None


class CommandAck(Input):
    """What a device reports about a command."""

    status: CommandStatus = Field(description="delivered, applied or failed")
    detail: str = Field(default="", max_length=2000)
