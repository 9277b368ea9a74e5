"""The engine's event bus: in-process publish/subscribe of :class:`~dte.domain.events.Event`.

Publishers call :meth:`EventBus.publish` only after their transaction committed, so a subscriber
never sees an event for data that is not durable. Each subscriber has a bounded queue; a subscriber
that falls behind loses the oldest events and is told how many (``dropped``) rather than making the
publisher wait or memory grow without bound. Consumers that must not miss anything (live streams with
resume) read the durable history by id instead and use the bus only as a wake-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable

import structlog

from dte.domain.events import Event, EventType

log = structlog.get_logger("dte.events")


class Subscription:
    """Events of the chosen types (all when none were chosen), in publish order."""

    def __init__(self, bus: EventBus, types: frozenset[EventType], where: Callable[[Event], bool] | None,
                 capacity: int) -> None:
        self._bus = bus
        self.types = types
        self.where = where
        self._queue: asyncio.Queue[Event] = asyncio.Queue(capacity)
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        return (not self.types or event.type in self.types) and (self.where is None or self.where(event))

    def offer(self, event: Event) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    async def get(self) -> Event:
        return await self._queue.get()

    def close(self) -> None:
        self._bus._subscriptions.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class EventBus:
    def __init__(self, capacity: int = 10_000) -> None:
        self._subscriptions: set[Subscription] = set()
        self.capacity = capacity
        self.published = 0

    def subscribe(self, types: Iterable[EventType] = (), where: Callable[[Event], bool] | None = None,
                  capacity: int | None = None) -> Subscription:
        """Use as a context manager (``with bus.subscribe(...) as sub: async for e in sub``)."""
        sub = Subscription(self, frozenset(types), where, capacity or self.capacity)
        self._subscriptions.add(sub)
        return sub

    def publish(self, *events: Event) -> None:
        """Hand committed events to every interested subscriber; never blocks."""
        for event in events:
            self.published += 1
            for sub in list(self._subscriptions):
                try:
                    if sub.wants(event):
                        sub.offer(event)
                except Exception:  # a broken filter must not stop the publisher
                    log.exception("event_filter_failed", event=event.type)
