"""The live feed of a twin: its new observations and state revisions, in commit order, resumable.

The feed reads the durable history by id (observation id, twin revision), so a client that
reconnects with the last id it saw gets exactly what it missed; the event bus only wakes the
feed up early. An id is ``"<observation id>.<revision>"``: both parts only grow for a twin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dte.adapters.db.tables import ObservationRow, TwinRevisionRow, TwinRow
from dte.domain import observations as obs
from dte.domain.errors import FieldError, InvalidInput
from dte.domain.events import EventType
from dte.domain.manifest import AppManifest
from dte.services.events import EventBus

PAGE = 500
POLL_SECONDS = 2.0  # changes that publish no event (e.g. another engine's writes) show up this late


@dataclass(frozen=True)
class Position:
    observation: int
    revision: int

    def __str__(self) -> str:
        return f"{self.observation}.{self.revision}"

    @classmethod
    def parse(cls, text: str) -> Position:
        try:
            observation, revision = (int(p) for p in text.strip().split("."))
        except ValueError:
            raise InvalidInput("Last-Event-ID is not an id this stream sent", code="invalid_event_id",
                               errors=[FieldError("/Last-Event-ID", "expected '<observation>.<revision>'",
                                                  "header")]) from None
        return cls(observation, revision)


@dataclass(frozen=True)
class FeedItem:
    id: str
    event: str  # "observation" or "state"
    data: dict[str, Any]


async def current_position(session: AsyncSession, twin_id: str) -> Position:
    last = await session.scalar(select(func.max(ObservationRow.id)).where(ObservationRow.twin_id == twin_id))
    revision = await session.scalar(select(TwinRow.revision).where(TwinRow.id == twin_id))
    return Position(last or 0, revision or 0)


async def feed(sessions: async_sessionmaker[AsyncSession], bus: EventBus, twin_id: str, manifest: AppManifest,
               start: Position, keepalive: float = 15.0) -> AsyncIterator[FeedItem | None]:
    """Items after ``start``, forever; ``None`` now and then when idle (send a keep-alive)."""
    kinds = {c.name: c.kind for c in manifest.channels}
    position = start
    with bus.subscribe([EventType.OBSERVATIONS, EventType.STATE_CHANGED], where=lambda e: e.twin_id == twin_id,
                       capacity=1) as wake:
        idle = 0.0
        while True:
            items, position = await _read(sessions, twin_id, position, kinds)
            for item in items:
                yield item
            if len(items) >= PAGE:
                continue
            if items:
                idle = 0.0
            try:
                await asyncio.wait_for(wake.get(), POLL_SECONDS)
            except TimeoutError:
                idle += POLL_SECONDS
                if idle >= keepalive:
                    idle = 0.0
                    yield None


async def _read(sessions: async_sessionmaker[AsyncSession], twin_id: str, at: Position,
                kinds: dict[str, str]) -> tuple[list[FeedItem], Position]:
    async with sessions() as session:
        rows = list(await session.scalars(
            select(ObservationRow).where(ObservationRow.twin_id == twin_id, ObservationRow.id > at.observation)
            .order_by(ObservationRow.id).limit(PAGE)))
        revisions = list(await session.scalars(
            select(TwinRevisionRow).where(TwinRevisionRow.twin_id == twin_id, TwinRevisionRow.revision > at.revision)
            .order_by(TwinRevisionRow.revision).limit(PAGE)))
    items = []
    observation, revision = at.observation, at.revision
    for row in rows:
        observation = row.id
        items.append(FeedItem(str(Position(observation, revision)), "observation", obs.Observation(
            id=row.id, channel=row.channel, time=obs.from_us(row.time_us), source=row.source, seq=row.seq,
            value=obs.loaded_value(kinds.get(row.channel, "number"), row.value, row.text)).model_dump(mode="json")))
    for rev in revisions:
        revision = rev.revision
        items.append(FeedItem(str(Position(observation, revision)), "state", {
            "twin_id": rev.twin_id, "revision": rev.revision, "reported": rev.reported, "desired": rev.desired,
            "status": rev.status, "change": rev.change, "changed_by": rev.changed_by,
            "changed_at": rev.changed_at.isoformat()}))
    return items, Position(observation, revision)
