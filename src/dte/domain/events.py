"""Events on the engine's event bus: what happened, to which project and twin, and when.

Ingest, rules, the data catalogue and ML monitoring publish them; triggers, live streams and
re-training subscribe. An event is data (JSON-serialisable), never a shared object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dte.domain.ids import new_id


class EventType(StrEnum):
    OBSERVATIONS = "observations.received"  # data: {"count": N, "channels": [...], "counts": {channel: N}}
    STATE_CHANGED = "twin.state_changed"  # data: {"revision": N, "change": "reported" | "desired" | ...}
    RULE_MATCHED = "rule.matched"  # data: {"rule": name, "channel": ..., "value": ...}
    ALERT = "alert.changed"  # data: {"alert": id, "status": "open" | "acknowledged" | "closed"}
    DATASET_CREATED = "dataset.created"  # data: {"dataset": name, "version": ...}
    MODEL_DRIFT = "model.drift"  # data: {"model": name, "version": ..., "statistic": ..., "value": ...}
    RUN_PROGRESS = "run.progress"  # data: {"run": id, "status": ..., "steps_done": N, "steps_total": N}
    RUN_FINISHED = "run.finished"  # data: {"run": id, "workflow": name, "status": ...}


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    type: EventType
    project_id: str
    twin_id: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)
