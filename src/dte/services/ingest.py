"""Observation ingest: check a message against the twin, then write it durably in batches.

Two halves. :func:`prepare` authorizes the sender for the twin and validates every record (bad
ones are rejected with a reason, good ones go on). :class:`IngestWriter` queues prepared batches
and writes them in group commits: one transaction per flush, one new twin revision per twin per
flush carrying the latest value of each channel, events published after the commit, and each
submitter answered only then - so "acknowledged" always means "durable". The queue is bounded;
a full queue answers :class:`Backpressure` (HTTP 429) or makes the caller wait (MQTT).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as Metric
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dte.adapters.db.tables import DeviceRow, ObservationRow, TwinRow
from dte.adapters.db.types import utcnow
from dte.domain import observations as obs
from dte.domain.devices import Device
from dte.domain.errors import Conflict, DteError, FieldError, Forbidden, InvalidInput, NotFound
from dte.domain.events import Event, EventType
from dte.domain.projects import Role, Scope
from dte.services.access import Principal
from dte.services.devices import TwinContext, twin_context
from dte.services.events import EventBus
from dte.services.twins import bump_revision
from dte.services.uow import write

log = structlog.get_logger("dte.ingest")


class Backpressure(DteError):
    """The write queue is full: try again after ``retry_after`` seconds (429)."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("the engine is busy writing observations; retry later", "ingest_busy", 429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Sender:
    """Who sends observations: a device of the twin, or a user with write access to its project."""

    device: Device | None = None
    user: Principal | None = None
    broker: bool = False  # a message the MQTT broker authorized, naming no device

    @property
    def name(self) -> str:
        if self.device:
            return f"device:{self.device.name}"
        return f"user:{self.user.username}" if self.user else "mqtt"

    def source(self, given: str | None) -> str:
        """The idempotency namespace. It starts with the sender's identity, so one sender can never
        shadow another's ``(source, seq)`` pairs."""
        own = self.device.id if self.device else f"user/{self.user.user_id}" if self.user else "mqtt"
        return f"{own}/{given}" if given else own


@dataclass
class Batch:
    """The valid readings of one message for one twin, and what was rejected."""

    twin: TwinContext
    source: str
    readings: list[obs.Reading]
    errors: list[FieldError]
    sender: str
    device_id: str | None = None


@dataclass(frozen=True)
class Limits:
    max_records: int
    max_future_us: int


def authorize(sender: Sender, twin: TwinContext | None, twin_id: str) -> TwinContext:
    hidden = f"twin {twin_id!r} does not exist"
    if sender.device is not None:
        if twin is None or sender.device.twin_id != twin.twin_id:
            raise Forbidden("this device may publish only to its own twin", code="wrong_twin")
    elif sender.user is None:
        if twin is None:
            raise NotFound(hidden, code="twin_not_found")
    else:
        if twin is None or not sender.user.can_see(twin.project_id):
            raise NotFound(hidden, code="twin_not_found")
        sender.user.require(twin.project_id, Role.USER, Scope.WRITE, hidden, "twin_not_found")
    if twin.status == "retired":
        raise Conflict("the twin is retired; it takes no observations", code="twin_retired")
    return twin


def validate(twin: TwinContext, sender: Sender, document: Any, source: str | None, limits: Limits,
             default_channel: str | None = None, now: datetime | None = None) -> Batch:
    """Parse and check every record; raise only if the message as a whole is unusable."""
    if source is not None and (len(source) > obs.MAX_SOURCE or not source.isprintable()):
        raise InvalidInput("source is too long or not printable", code="invalid_source",
                           errors=[FieldError("/source", f"at most {obs.MAX_SOURCE} printable characters")])
    now = now or utcnow()
    readings, errors = obs.parse(document, now, default_channel)
    if len(readings) + len(errors) > limits.max_records:
        raise InvalidInput(f"a message holds at most {limits.max_records} records", code="too_many_records")
    channels = {c.name: c for c in twin.manifest.channels}
    allowed = sender.device.channels or None if sender.device else None
    now_us = obs.to_us(now)
    good = []
    for index, reading in enumerate(readings):
        reason = obs.check(reading, channels, allowed, now_us, limits.max_future_us)
        if reason is None:
            good.append(reading)
        else:
            errors.append(FieldError(f"/{index}", reason))
    return Batch(twin=twin, source=sender.source(source), readings=good, errors=errors, sender=sender.name,
                 device_id=sender.device.id if sender.device else None)


async def prepare(session: AsyncSession, sender: Sender, twin_id: str, document: Any, source: str | None,
                  limits: Limits, default_channel: str | None = None) -> Batch:
    twin = authorize(sender, await twin_context(session, twin_id), twin_id)
    return validate(twin, sender, document, source, limits, default_channel)


@dataclass
class _Pending:
    batch: Batch
    done: asyncio.Future[obs.IngestResult]
    result: obs.IngestResult = field(default_factory=obs.IngestResult)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Metric("dte_observations_accepted", "observations stored", registry=registry)
        self.duplicates = Metric("dte_observations_duplicate", "observations already stored (source, seq)",
                                 registry=registry)
        self.rejected = Metric("dte_observations_rejected", "observations refused as invalid", registry=registry)
        self.pending = Gauge("dte_ingest_pending", "observations waiting to be written", registry=registry)
        self.flush_seconds = Histogram("dte_ingest_flush_seconds", "duration of one ingest transaction",
                                       registry=registry)


class IngestWriter:
    """The one writer of observations in this engine process (several engines share the database
    safely: each flush locks the twins it writes, in id order)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: EventBus, max_pending: int,
                 max_batch: int, metrics: IngestMetrics | None = None) -> None:
        self.sessions = sessions
        self.events = events
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.metrics = metrics
        self._queue: deque[_Pending] = deque()
        self._pending = 0
        self._wake = asyncio.Event()
        self._space = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pending(self) -> int:
        return self._pending

    def note_rejections(self, batch: Batch) -> None:
        """Rejected records are counted and logged with their reasons, never dropped silently."""
        if not batch.errors:
            return
        if self.metrics:
            self.metrics.rejected.inc(len(batch.errors))
        log.warning("observations_rejected", twin=batch.twin.twin_id, project=batch.twin.project,
                    sender=batch.sender, count=len(batch.errors),
                    reasons=[f"{e.pointer}: {e.detail}" for e in batch.errors[:5]])

    async def submit(self, batch: Batch, wait: bool = False) -> obs.IngestResult:
        """Queue a batch and return once it is durable. Full queue: raise :class:`Backpressure`,
        or with ``wait`` hold the caller until there is room (that is how MQTT intake slows down)."""
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            # A caller on another event loop (an in-process test client has its own): hand over.
            future = asyncio.run_coroutine_threadsafe(self._submit(batch, wait), self._loop)
            return await asyncio.wrap_future(future)
        return await self._submit(batch, wait)

    async def _submit(self, batch: Batch, wait: bool) -> obs.IngestResult:
        size = max(len(batch.readings), 1)
        if self._pending + size > self.max_pending and self._pending > 0:
            if not wait:
                raise Backpressure()
            async with self._space:
                await self._space.wait_for(lambda: self._pending + size <= self.max_pending or self._pending == 0)
        if self._task is None or self._task.done():
            raise RuntimeError("the ingest writer is not running")
        pending = _Pending(batch, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._pending += size
        self._gauge()
        self._wake.set()
        return await asyncio.shield(pending.done)

    def _gauge(self) -> None:
        if self.metrics:
            self.metrics.pending.set(self._pending)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken: list[_Pending] = []
                count = 0
                while self._queue and (not taken or count + len(self._queue[0].batch.readings) <= self.max_batch):
                    taken.append(self._queue.popleft())
                    count += max(len(taken[-1].batch.readings), 1)
                await self._flush_safely(taken)
                self._pending -= count
                self._gauge()
                async with self._space:
                    self._space.notify_all()

    async def _flush_safely(self, taken: list[_Pending]) -> None:
        try:
            await self._flush(taken)
            return
        except Exception as exc:
            if len(taken) == 1:
                log.exception("ingest_write_failed", twin=taken[0].batch.twin.twin_id)
                _fail(taken[0], exc)
                return
        for one in taken:  # one bad message must not sink the others of its flush
            try:
                await self._flush([one])
            except Exception as exc:
                log.exception("ingest_write_failed", twin=one.batch.twin.twin_id)
                _fail(one, exc)

    async def _flush(self, taken: list[_Pending]) -> None:
        for one in taken:
            one.result = obs.IngestResult(rejected=len(one.batch.errors), errors=[
                {"pointer": e.pointer, "detail": e.detail} for e in one.batch.errors])
        by_twin: dict[str, list[_Pending]] = {}
        for one in taken:
            by_twin.setdefault(one.batch.twin.twin_id, []).append(one)
        events: list[Event] = []
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self.sessions() as session, write(session):
            now = utcnow()
            for twin_id in sorted(by_twin):  # one lock order for every writer: no deadlocks
                events += await _write_twin(session, twin_id, by_twin[twin_id], now)
            devices = {one.batch.device_id for one in taken if one.batch.device_id}
            if devices:
                await session.execute(update(DeviceRow).where(DeviceRow.id.in_(devices)).values(last_seen_at=now))
        if self.metrics:
            self.metrics.flush_seconds.observe(loop.time() - started)
            self.metrics.accepted.inc(sum(o.result.accepted for o in taken))
            self.metrics.duplicates.inc(sum(o.result.duplicates for o in taken))
        self.events.publish(*events)
        for one in taken:
            if not one.done.done():
                one.done.set_result(one.result)

    async def __aenter__(self) -> IngestWriter:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="dte-ingest-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        while self._queue and self._task and not self._task.done():  # finish what was accepted
            await asyncio.sleep(0.01)
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for one in self._queue:
            _fail(one, RuntimeError("the engine stopped before writing the observations"))


def _fail(pending: _Pending, exc: Exception) -> None:
    if not pending.done.done():
        pending.done.set_exception(exc)


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(ObservationRow)


async def _write_twin(session: AsyncSession, twin_id: str, batches: Sequence[_Pending], now: datetime) -> list[Event]:
    """Store the twin's observations (duplicates skipped) and make one revision of its reported state."""
    row = await session.get(TwinRow, twin_id, with_for_update=True)
    if row is None:
        raise NotFound(f"twin {twin_id!r} does not exist", code="twin_not_found")
    values: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for one in batches:
        for reading in one.batch.readings:
            if reading.seq is not None:
                key = (one.batch.source, reading.seq)
                if key in seen:
                    continue
                seen.add(key)
            number, text = obs.stored_value(reading.value)
            values.append({"twin_id": twin_id, "channel": reading.channel, "time_us": reading.time_us,
                           "value": number, "text": text, "source": one.batch.source, "seq": reading.seq,
                           "received_at": now})
    inserted: list[Any] = []
    if values:
        stmt = _insert(session).on_conflict_do_nothing(index_elements=["twin_id", "source", "seq"]).returning(
            ObservationRow.id, ObservationRow.source, ObservationRow.seq, ObservationRow.channel,
            ObservationRow.time_us, ObservationRow.value, ObservationRow.text)
        inserted = list((await session.execute(stmt, values)).all()) if len(values) > 1 else \
            list((await session.execute(stmt.values(values[0]))).all())
    _attribute(batches, inserted)
    if not inserted:
        return []
    latest = _latest_per_channel(row.reported, inserted, {c.name: c.kind for c in batches[0].batch.twin.manifest.channels})
    twin = batches[0].batch.twin
    events = [Event(type=EventType.OBSERVATIONS, project_id=twin.project_id, twin_id=twin_id,
                    data={"count": len(inserted), "channels": sorted({r.channel for r in inserted}),
                          "counts": dict(Counter(r.channel for r in inserted)),
                          "last_id": max(r.id for r in inserted)})]
    if latest:
        row.reported = {**row.reported, **latest}
        revision = await bump_revision(session, row, "reported", batches[0].batch.sender)
        for one in batches:
            one.result.revision = revision
        events.append(Event(type=EventType.STATE_CHANGED, project_id=twin.project_id, twin_id=twin_id,
                            data={"revision": revision, "change": "reported", "channels": sorted(latest)}))
    return events


def _attribute(batches: Sequence[_Pending], inserted: Sequence[Any]) -> None:
    """Count per message what was stored and what was a resend of something already stored."""
    stored = Counter((r.source, r.seq) for r in inserted if r.seq is not None)
    for one in batches:
        for reading in one.batch.readings:
            key = (one.batch.source, reading.seq)
            if reading.seq is None or stored[key] > 0:
                one.result.accepted += 1
                if reading.seq is not None:
                    stored[key] -= 1
            else:
                one.result.duplicates += 1


def _latest_per_channel(reported: dict[str, Any], inserted: Sequence[Any], kinds: dict[str, str]) -> dict[str, Any]:
    """The newest stored value per channel, where it is newer than what the state already shows
    (an edge gateway's backlog must not move the state back in time)."""
    newest: dict[str, Any] = {}
    for r in inserted:
        if r.channel not in newest or (r.time_us, r.id) > (newest[r.channel].time_us, newest[r.channel].id):
            newest[r.channel] = r
    changes = {}
    for channel, r in newest.items():
        current = reported.get(channel)
        current_us = current.get("time_us") if isinstance(current, dict) else None
        if isinstance(current_us, int) and current_us > r.time_us:
            continue
        changes[channel] = {"value": obs.loaded_value(kinds.get(channel, "number"), r.value, r.text),
                            "time": obs.from_us(r.time_us).isoformat(), "time_us": r.time_us}
    return changes


@asynccontextmanager
async def ingest_writer(sessions: async_sessionmaker[AsyncSession], events: EventBus, max_pending: int,
                        max_batch: int, registry: CollectorRegistry | None = None) -> AsyncIterator[IngestWriter]:
    metrics = IngestMetrics(registry) if registry is not None else None
    async with IngestWriter(sessions, events, max_pending, max_batch, metrics) as writer:
        yield writer
