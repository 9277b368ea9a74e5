"""Twins: instances of an application version for one use case, with versioned state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from dte.domain.common import Input, Resource
from dte.domain.errors import Conflict
from dte.domain.manifest import Name


class TwinStatus(StrEnum):
    CREATED = "created"
    ACTIVE = "active"
    PAUSED = "paused"
    RETIRED = "retired"

_TRANSITIONS: dict[TwinStatus, set[TwinStatus]] = {
    TwinStatus.CREATED: {TwinStatus.ACTIVE, TwinStatus.RETIRED},
    TwinStatus.ACTIVE: {TwinStatus.PAUSED, TwinStatus.RETIRED},
    TwinStatus.PAUSED: {TwinStatus.ACTIVE, TwinStatus.RETIRED},
    TwinStatus.RETIRED: set(),
}

def check_transition(current: TwinStatus, target: TwinStatus) -> None:
    if target == current:
        return
    if target not in _TRANSITIONS[current]:
        allowed = ", ".join(sorted(_TRANSITIONS[current])) or "none (retired is final)"
        raise Conflict(
            f"a twin cannot go from {current} to {target}; allowed from {current}: {allowed}",
            code="invalid_transition",
        )

class ChannelBinding(Input):
    """Where a channel's observations come from in the physical twin."""

    device: str | None = Field(default=None, max_length=200, description="device that publishes this channel")
    topic: str | None = Field(default=None, max_length=500, description="source topic or stream name")

class TwinCreate(Input):
    project: str
    name: Name
    application: str
    version: str | None = Field(default=None, description="default: the latest non-deprecated release")
    description: str = Field(default="", max_length=2000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    bindings: dict[str, ChannelBinding] = Field(default_factory=dict)
    status: TwinStatus = TwinStatus.CREATED

class TwinUpdate(Input):
    description: str | None = Field(default=None, max_length=2000)
    parameters: dict[str, Any] | None = None
    bindings: dict[str, ChannelBinding] | None = None
    status: TwinStatus | None = None

class Twin(Resource):
    id: str
    project: str
    name: str
    application: str
    version: str
    description: str
    parameters: dict[str, Any]
    bindings: dict[str, ChannelBinding]
    status: TwinStatus
    revision: int
    created_at: datetime
    updated_at: datetime

class TwinState(Resource):
    """Reported (from the physical twin) and desired (from users) documents at one revision.

    Every change to a twin - state, parameters or status - makes a new revision; the revision's
    snapshot is kept so the twin can be read back as of any time.
    """

    twin_id: str
    revision: int
    reported: dict[str, Any]
    desired: dict[str, Any]
    parameters: dict[str, Any]
    bindings: dict[str, ChannelBinding]
    status: TwinStatus
    changed_at: datetime
    changed_by: str
    change: str = Field(description="what made this revision: created, reported, desired, or a comma-separated "
                                    "list of status, parameters, bindings, description")

