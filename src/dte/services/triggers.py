"""Triggers: what starts runs besides a person - cron schedules and events on the twin.

The application's manifest declares them; they apply to each *active* twin of that version. State per
twin and trigger (next due time, events counted, last run, last error) is in ``trigger_state``, so an
engine restart neither forgets nor repeats a firing, and several engines can share the schedule: a
firing is claimed by a compare-and-set on the row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dte.adapters.db.tables import ApplicationVersionRow, TriggerStateRow, TwinRow
from dte.adapters.db.types import utcnow
from dte.domain.errors import DteError, NotFound
from dte.domain.events import Event, EventType
from dte.domain.manifest import AppManifest, Trigger
from dte.domain.projects import Role, Scope
from dte.domain.runs import RunStart, RunTrigger, TriggerInfo, TriggerKind
from dte.domain.twins import TwinStatus
from dte.services.access import Principal
from dte.services.catalogue import manifest_of
from dte.services.events import EventBus
from dte.services.runs import RunService
from dte.services.uow import write

log = structlog.get_logger("dte.triggers")
TRIGGER_USER = "dte-trigger"


def next_due(trigger: Trigger, after: datetime) -> datetime:
    """The next time the cron schedule fires after ``after``, in the schedule's time zone."""
    assert trigger.schedule is not None
    zone = ZoneInfo(trigger.schedule.timezone)
    local = after.astimezone(zone)
    return croniter(trigger.schedule.cron, local).get_next(datetime).astimezone(after.tzinfo)


def counted(trigger: Trigger, event: Event) -> int:
    """How many of the trigger's events this event is (0: not one of them)."""
    condition = trigger.event
    if condition is None or condition.type != event.type:
        return 0
    if any(event.data.get(key) != value for key, value in condition.match.items()):
        return 0
    if event.type != EventType.OBSERVATIONS:
        return 1
    if not condition.channels:
        return int(event.data.get("count", 0))
    per_channel = event.data.get("counts")
    if isinstance(per_channel, dict):
        return sum(int(per_channel.get(c, 0)) for c in condition.channels)
    return int(event.data.get("count", 0)) if set(condition.channels) & set(event.data.get("channels", [])) else 0


def trigger_principal(project_id: str) -> Principal:
    """Runs started by triggers act as a user of the twin's project, nothing more."""
    return Principal(user_id="", username=TRIGGER_USER, roles={project_id: Role.USER},
                     scopes=frozenset({Scope.READ, Scope.WRITE}))


class TriggerService:
    """The triggers' background loops; ``runs`` makes a RunService for a session."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: EventBus,
                 runs: Callable[[AsyncSession], RunService], tick_seconds: float = 5.0) -> None:
        self.sessions = sessions
        self.events = events
        self.runs = runs
        self.tick_seconds = tick_seconds
        self.fired = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TriggerService]:
        tasks = [asyncio.create_task(self._schedule_loop()), asyncio.create_task(self._event_loop())]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- schedules ------------------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while True:
            try:
                wait = await self.tick()
            except Exception:
                log.exception("schedule_tick_failed")
                wait = self.tick_seconds
            await asyncio.sleep(wait)

    async def tick(self) -> float:
        """Fire every due schedule once; returns seconds until the next one is due (at most a tick)."""
        now = utcnow()
        async with self.sessions() as session:
            twins = (await session.execute(
                select(TwinRow, ApplicationVersionRow).join(
                    ApplicationVersionRow, ApplicationVersionRow.id == TwinRow.application_version_id)
                .where(TwinRow.status == TwinStatus.ACTIVE))).all()
            scheduled = [(twin, name, trigger) for twin, version in twins
                         for name, trigger in manifest_of(version).triggers.items() if trigger.schedule]
            states = {(s.twin_id, s.trigger): s for s in (await session.scalars(select(TriggerStateRow).where(
                TriggerStateRow.twin_id.in_({t.id for t, _, _ in scheduled})))).all()}
        soonest = self.tick_seconds
        for twin, name, trigger in scheduled:
            state = states.get((twin.id, name))
            if state is None or state.next_due_at is None:
                await self._set_due(twin.id, name, next_due(trigger, now))
                continue
            if state.next_due_at > now:
                soonest = min(soonest, (state.next_due_at - now).total_seconds())
                continue
            if await self._claim(twin.id, name, state.next_due_at, next_due(trigger, now)):
                await self.fire(twin.id, twin.project_id, name, trigger, {"scheduled_for": state.next_due_at.isoformat()})
        return max(0.05, soonest)

    async def _set_due(self, twin_id: str, name: str, due: datetime) -> None:
        async with self.sessions() as session, write(session):
            state = await session.get(TriggerStateRow, (twin_id, name))
            if state is None:
                session.add(TriggerStateRow(twin_id=twin_id, trigger=name, next_due_at=due, pending=0))
            elif state.next_due_at is None:
                state.next_due_at = due

    async def _claim(self, twin_id: str, name: str, due: datetime, following: datetime) -> bool:
        """Move the due time on; only the engine whose update matched fires (no double runs)."""
        async with self.sessions() as session, write(session):
            result = await session.execute(update(TriggerStateRow).where(
                TriggerStateRow.twin_id == twin_id, TriggerStateRow.trigger == name,
                TriggerStateRow.next_due_at == due).values(next_due_at=following))
            return result.rowcount == 1

    # --- events ----------------------------------------------------------------------------------------

    async def _event_loop(self) -> None:
        with self.events.subscribe(where=lambda e: e.twin_id is not None) as events:
            async for event in events:
                try:
                    await self.on_event(event)
                except Exception:
                    log.exception("event_trigger_failed", event=event.type, twin_id=event.twin_id)

    async def on_event(self, event: Event) -> None:
        async with self.sessions() as session:
            twin = await session.get(TwinRow, event.twin_id)
            if twin is None or twin.status != TwinStatus.ACTIVE:
                return
            version = await session.get(ApplicationVersionRow, twin.application_version_id)
            assert version is not None
            manifest = manifest_of(version)
        for name, trigger in manifest.triggers.items():
            amount = counted(trigger, event)
            if amount and await self._count(twin.id, name, amount, trigger):
                await self.fire(twin.id, twin.project_id, name, trigger, {"event": event.type.value,
                                                                         "event_id": event.id, "data": event.data})

    async def _count(self, twin_id: str, name: str, amount: int, trigger: Trigger) -> bool:
        """Add to the trigger's count; ``True`` (and the count starts again) when it reaches its threshold."""
        assert trigger.event is not None
        async with self.sessions() as session, write(session):
            state = await session.get(TriggerStateRow, (twin_id, name), with_for_update=True)
            if state is None:
                state = TriggerStateRow(twin_id=twin_id, trigger=name, pending=0)
                session.add(state)
            state.pending = (state.pending or 0) + amount
            if state.pending < trigger.event.count:
                return False
            state.pending = 0  # events that arrived together start one run, not several
            return True

    # --- firing -------------------------------------------------------------------------------------

    async def fire(self, twin_id: str, project_id: str, name: str, trigger: Trigger, context: dict[str, Any]) -> str | None:
        """Start the trigger's run; a run that cannot start is recorded as the trigger's last error."""
        kind = TriggerKind.SCHEDULE if trigger.schedule else TriggerKind.EVENT
        run_id: str | None = None
        error = ""
        async with self.sessions() as session:
            try:
                run = await self.runs(session).start(
                    trigger_principal(project_id), RunStart(twin=twin_id, workflow=trigger.workflow,
                                                            inputs=trigger.inputs),
                    RunTrigger(kind=kind, name=name, context=context))
                run_id = run.id
                self.fired += 1
            except DteError as exc:
                error = str(exc)
                log.warning("trigger_run_not_started", twin_id=twin_id, trigger=name, error=error)
            async with write(session):
                state = await session.get(TriggerStateRow, (twin_id, name))
                if state is None:
                    state = TriggerStateRow(twin_id=twin_id, trigger=name, pending=0)
                    session.add(state)
                state.last_fired_at, state.last_error = utcnow(), error
                state.last_run_id = run_id or state.last_run_id
        return run_id


async def twin_triggers(session: AsyncSession, actor: Principal, twin: TwinRow, manifest: AppManifest
                        ) -> list[TriggerInfo]:
    """The triggers of a twin with their state, for people."""
    if not actor.can_see(twin.project_id):
        raise NotFound(f"twin {twin.id!r} does not exist", code="twin_not_found")
    states = {s.trigger: s for s in (await session.scalars(
        select(TriggerStateRow).where(TriggerStateRow.twin_id == twin.id))).all()}
    listed = []
    for name, trigger in manifest.triggers.items():
        state = states.get(name)
        listed.append(TriggerInfo(
            name=name, workflow=trigger.workflow, description=trigger.description,
            kind=TriggerKind.SCHEDULE if trigger.schedule else TriggerKind.EVENT,
            schedule=trigger.schedule.model_dump() if trigger.schedule else None,
            event=trigger.event.model_dump(mode="json") if trigger.event else None,
            active=twin.status == TwinStatus.ACTIVE,
            next_due_at=state.next_due_at if state else None, pending=state.pending if state else 0,
            last_fired_at=state.last_fired_at if state else None,
            last_run_id=state.last_run_id if state else None, last_error=state.last_error if state else ""))
    return listed
