"""Observation history: time-range pages, aggregation buckets, CSV and Parquet export."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dte.adapters.db.tables import ObservationRow
from dte.domain import observations as obs
from dte.domain.errors import FieldError, InvalidInput, NotFound
from dte.domain.observations import Bucket
from dte.services.access import Principal
from dte.services.devices import TwinContext, twin_context

ExportFormat = Literal["csv", "parquet"]
MAX_BUCKETS = 100_000


def _range(stmt: Select, twin_id: str, channel: str | None, since: datetime | None,
           until: datetime | None) -> Select:
    stmt = stmt.where(ObservationRow.twin_id == twin_id)
    if channel is not None:
        stmt = stmt.where(ObservationRow.channel == channel)
    if since is not None:
        stmt = stmt.where(ObservationRow.time_us >= obs.to_us(since))
    if until is not None:
        stmt = stmt.where(ObservationRow.time_us < obs.to_us(until))
    return stmt


class HistoryService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def twin(self, actor: Principal, twin_id: str, channel: str | None = None) -> TwinContext:
        """The twin if the actor may read it (and the channel, if given, is one of its channels)."""
        twin = await twin_context(self.session, twin_id)
        if twin is None or not actor.can_see(twin.project_id):
            raise NotFound(f"twin {twin_id!r} does not exist", code="twin_not_found")
        if channel is not None and twin.manifest.channel(channel) is None:
            raise InvalidInput(f"the application declares no channel {channel!r}", code="unknown_channel",
                               errors=[FieldError("/channel", "unknown channel", "query")])
        return twin

    def _out(self, twin: TwinContext, row: ObservationRow) -> obs.Observation:
        declared = twin.manifest.channel(row.channel)
        kind = declared.kind if declared else "number"
        return obs.Observation(id=row.id, channel=row.channel, time=obs.from_us(row.time_us),
                               value=obs.loaded_value(kind, row.value, row.text), source=row.source, seq=row.seq)

    async def observations(self, actor: Principal, twin_id: str, channel: str | None, since: datetime | None,
                           until: datetime | None, cursor: str | None, limit: int,
                           ) -> tuple[list[obs.Observation], str | None]:
        """In time order (then id); the cursor is ``time_us:id`` of the last item."""
        twin = await self.twin(actor, twin_id, channel)
        stmt = _range(select(ObservationRow), twin_id, channel, since, until)
        if cursor:
            try:
                after_us, after_id = (int(p) for p in cursor.split(":", 1))
            except ValueError:
                raise InvalidInput("the cursor is not valid", code="invalid_cursor",
                                   errors=[FieldError("/cursor", "pass next_cursor back unchanged", "query")]) from None
            stmt = stmt.where((ObservationRow.time_us > after_us)
                              | ((ObservationRow.time_us == after_us) & (ObservationRow.id > after_id)))
        rows = list(await self.session.scalars(stmt.order_by(ObservationRow.time_us, ObservationRow.id)
                                               .limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = f"{rows[-1].time_us}:{rows[-1].id}" if more else None
        return [self._out(twin, r) for r in rows], next_cursor

    async def aggregate(self, actor: Principal, twin_id: str, channel: str | None, since: datetime | None,
                        until: datetime | None, bucket_seconds: float) -> list[Bucket]:
        await self.twin(actor, twin_id, channel)
        width = int(bucket_seconds * 1_000_000)
        if width < 1:
            raise InvalidInput("bucket must be at least one microsecond", code="invalid_bucket",
                               errors=[FieldError("/bucket", "too small", "query")])
        if since is not None and until is not None and (obs.to_us(until) - obs.to_us(since)) / width > MAX_BUCKETS:
            raise InvalidInput(f"at most {MAX_BUCKETS} buckets per query; widen the bucket", code="too_many_buckets",
                               errors=[FieldError("/bucket", "too small for this time range", "query")])
        index = (ObservationRow.time_us // width).label("bucket")
        stmt = _range(select(ObservationRow.channel, index, func.count(ObservationRow.id), func.min(ObservationRow.value),
                             func.max(ObservationRow.value), func.avg(ObservationRow.value)),
                      twin_id, channel, since, until)
        rows = await self.session.execute(stmt.group_by(ObservationRow.channel, index)
                                          .order_by(ObservationRow.channel, index).limit(MAX_BUCKETS))
        return [Bucket(channel=c, start=obs.from_us(int(b) * width), count=n, min=lo, max=hi,
                       mean=None if mean is None else float(mean)) for c, b, n, lo, hi, mean in rows]

    async def export(self, actor: Principal, twin_id: str, channel: str | None, since: datetime | None,
                     until: datetime | None, fmt: ExportFormat, limit: int) -> bytes:
        twin = await self.twin(actor, twin_id, channel)
        stmt = _range(select(ObservationRow), twin_id, channel, since, until)
        rows = [self._out(twin, r) for r in await self.session.scalars(
            stmt.order_by(ObservationRow.time_us, ObservationRow.id).limit(limit))]
        return _csv(rows) if fmt == "csv" else _parquet(rows)


COLUMNS = ("time", "channel", "value", "source", "seq")


def _csv(rows: list[obs.Observation]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.time.isoformat(), r.channel, "" if r.value is None else r.value, r.source,
                         "" if r.seq is None else r.seq])
    return out.getvalue().encode()


def _parquet(rows: list[obs.Observation]) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # the optional 'parquet' extra
        raise InvalidInput("Parquet export needs pyarrow on the engine (pip install 'dte[parquet]')",
                           code="format_unavailable") from None
    table = pa.table({
        "time": pa.array([r.time for r in rows], pa.timestamp("us", tz="UTC")),
        "channel": pa.array([r.channel for r in rows], pa.string()),
        "value": pa.array([None if isinstance(r.value, str) or r.value is None else float(r.value) for r in rows],
                          pa.float64()),
        "text": pa.array([r.value if isinstance(r.value, str) else None for r in rows], pa.string()),
        "source": pa.array([r.source for r in rows], pa.string()),
        "seq": pa.array([r.seq for r in rows], pa.int64()),
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
