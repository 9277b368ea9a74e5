"""The gateway process: sources feed the pipeline, the buffer keeps what passed, the forwarder
sends it on to the engine (at least once, with sequence numbers), and a small HTTP server shows
status and Prometheus metrics."""

from __future__ import annotations

import asyncio
import csv
import json
import random
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import structlog
import uvicorn
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dte.adapters.mqtt_link import BrokerAddress
from dte.domain.topics import TopicScheme
from dte.edge.buffer import COUNTERS, Buffer, Row
from dte.edge.config import EdgeConfig, FileSource, HttpSource, MqttSource
from dte.edge.operators import Pipeline, Sample

log = structlog.get_logger("dte.edge")


def _sample(record: Any, channel: str | None) -> Sample:
    """``{"t", "v"}`` (t: epoch seconds or ISO 8601, default now) with the channel from the record or source."""
    if not isinstance(record, dict) or "v" not in record:
        raise ValueError("a sample is {\"t\", \"v\"} (with \"channel\" unless the source names it)")
    name = record.get("channel", record.get("n", channel))
    if not isinstance(name, str) or not name:
        raise ValueError("no channel")
    t = record.get("t")
    if t is None:
        t = datetime.now().timestamp()
    elif isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    if not isinstance(t, int | float) or isinstance(t, bool):
        raise ValueError("t must be a number or ISO 8601 time")
    value = record["v"]
    if not isinstance(value, int | float | str | bool):
        raise ValueError("v must be a number, string or boolean")
    return Sample(name, float(t), value)


class Gateway:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.buffer = Buffer(config.buffer.path, config.buffer.max_rows, config.buffer.overflow)
        self.pipeline = Pipeline(config.operators)
        self.secret = config.engine.device_secret()
        self.wake = asyncio.Event()

    # --- intake -------------------------------------------------------------------------------

    async def intake(self, records: list[Any], channel: str | None = None,
                     offset: tuple[str, int] | None = None) -> int:
        """Run records through the pipeline and store what passes; returns when it is on disk."""
        samples: list[Sample] = []
        invalid = 0
        for record in records:
            try:
                samples += self.pipeline(_sample(record, channel))
            except (ValueError, TypeError):
                invalid += 1
        kept = await asyncio.to_thread(self.buffer.add, samples, len(records), offset)
        if invalid:
            await asyncio.to_thread(self.buffer.count, "rejected", invalid)
        self.wake.set()
        return kept

    async def mqtt_source(self, source: MqttSource) -> None:
        address = BrokerAddress.parse(source.url)
        while True:
            try:
                async with address.client(source.client_id) as client:
                    client._client.manual_ack_set(True)  # acknowledge only once the sample is on disk
                    await client.subscribe(source.topic, qos=1)
                    async for message in client.messages:
                        channel = source.channel or message.topic.value.rsplit("/", 1)[-1]
                        try:
                            document = json.loads(message.payload)  # type: ignore[arg-type]
                        except (ValueError, TypeError):
                            document = None
                        records = document if isinstance(document, list) else [document]
                        await self.intake(records, channel)
                        client._client.ack(message.mid, message.qos)
            except aiomqtt.MqttError as exc:
                log.warning("edge_source_disconnected", url=source.url, error=str(exc))
                await asyncio.sleep(1)

    def http_app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            try:
                document = json.loads(await request.body())
            except ValueError:
                return JSONResponse({"detail": "not JSON"}, status_code=400)
            records = document if isinstance(document, list) else [document]
            kept = await self.intake(records, request.query_params.get("channel"))
            return JSONResponse({"stored": kept, "received": len(records)}, status_code=202)

        return Starlette(routes=[Route("/samples", receive, methods=["POST"])])

    async def file_source(self, source: FileSource) -> None:
        """Follow a CSV file (time,channel,value); the read offset commits with the samples."""
        key = f"file:{source.path}"
        while True:
            position = await asyncio.to_thread(self.buffer.offset, key)
            lines, end = await asyncio.to_thread(_read_lines, source.path, position)
            if lines:
                records = []
                for row in csv.reader(lines):
                    if len(row) >= 3 and row[0] != "time":
                        value: Any = row[2]
                        with suppress(ValueError):
                            value = float(value)
                        records.append({"t": _number_or_text(row[0]), "channel": row[1], "v": value})
                await self.intake(records, offset=(key, end))
            await asyncio.sleep(source.poll)

    # --- forwarding ---------------------------------------------------------------------------

    async def forward(self) -> None:
        send: Callable[[list[Row]], Awaitable[list[Row]]] = (
            self._send_http if self.config.forward.via == "http" else self._send_mqtt)
        backoff = self.config.forward.interval
        while True:
            rows = await asyncio.to_thread(self.buffer.peek, self.config.forward.batch)
            if not rows:
                self.wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.config.forward.interval)
                continue
            try:
                refused = await send(rows)
            except Exception as exc:  # engine or network down: keep everything, wait longer each time
                await asyncio.to_thread(self.buffer.count, "failed", 1)
                log.warning("edge_forward_failed", error=str(exc) or type(exc).__name__, retry_in=round(backoff, 2))
                await asyncio.sleep(backoff * (0.5 + random.random() / 2))
                backoff = min(backoff * 2, self.config.forward.backoff_max)
                continue
            backoff = self.config.forward.interval
            refused_seqs = {r.seq for r in refused}
            await asyncio.to_thread(self.buffer.remove, [r for r in rows if r.seq not in refused_seqs])
            if refused:
                await asyncio.to_thread(self.buffer.remove, refused, "engine_rejected")

    def _records(self, rows: list[Row]) -> list[dict[str, Any]]:
        return [{"channel": r.channel, "t": r.t, "v": r.v, "seq": r.seq} for r in rows]

    async def _send_http(self, rows: list[Row]) -> list[Row]:
        engine = self.config.engine
        async with httpx.AsyncClient(base_url=engine.url or "", timeout=30,
                                     headers={"Authorization": f"Bearer {self.secret}"}) as http:
            response = await http.post(f"/api/v1/twins/{engine.twin}/observations",
                                       params={"source": self.config.forward.source},
                                       json={"observations": self._records(rows)})
        if response.status_code == 202:
            bad = {int(e["pointer"].split("/")[-1]) for e in response.json().get("errors", [])
                   if e["pointer"].split("/")[-1].isdigit()}
            return [rows[i] for i in sorted(bad) if i < len(rows)]
        if response.status_code == 422 and response.json().get("code") == "invalid_observations":
            return rows  # every record refused for good: counted, not resent forever
        raise RuntimeError(f"engine answered {response.status_code}: {response.text[:200]}")

    async def _send_mqtt(self, rows: list[Row]) -> list[Row]:
        engine = self.config.engine
        address = BrokerAddress.parse(engine.mqtt_url or "")
        scheme = TopicScheme(engine.topic)
        address = BrokerAddress(address.host, address.port, engine.device_id or address.username, self.secret,
                                address.tls)
        by_channel: dict[str, list[Row]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        async with address.client(f"{self.config.name}-forward", clean_session=True) as client:
            for channel, group in by_channel.items():
                topic = scheme.format(project=engine.project or "", twin=engine.twin_name or "", channel=channel)
                payload = {"source": self.config.forward.source, "observations": self._records(group)}
                if engine.device:
                    payload["device"] = engine.device
                await client.publish(topic, json.dumps(payload).encode(), qos=1)  # returns after PUBACK
        return []

    # --- status -------------------------------------------------------------------------------

    def status_app(self) -> Starlette:
        registry = CollectorRegistry()
        gauges = {name: Gauge(f"dte_edge_{name}", f"gateway {name}", registry=registry)
                  for name in ("depth", "oldest_unsent_seconds", *COUNTERS)}

        async def status(_: Request) -> Response:
            return JSONResponse(await asyncio.to_thread(self.buffer.stats))

        async def metrics(_: Request) -> Response:
            for name, value in (await asyncio.to_thread(self.buffer.stats)).items():
                gauges[name].set(value)
            return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

        return Starlette(routes=[Route("/status", status), Route("/metrics", metrics)])

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.forward(), name="forward")]
        for source in self.config.sources:
            if isinstance(source, MqttSource):
                tasks.append(asyncio.create_task(self.mqtt_source(source)))
            elif isinstance(source, HttpSource):
                tasks.append(asyncio.create_task(_serve(self.http_app(), source.host, source.port)))
            elif isinstance(source, FileSource):
                tasks.append(asyncio.create_task(self.file_source(source)))
        if self.config.status.port:
            tasks.append(asyncio.create_task(_serve(self.status_app(), self.config.status.host,
                                                    self.config.status.port)))
        log.info("edge_started", name=self.config.name, sources=len(self.config.sources), via=self.config.forward.via)
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.buffer.close()


async def _serve(app: Starlette, host: str, port: int) -> None:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                           lifespan="off"))
    await server._serve()  # not serve(): the gateway process, not this helper server, owns the signals


def _read_lines(path: Path, position: int) -> tuple[list[str], int]:
    if not path.exists():
        return [], position
    with path.open("rb") as f:
        f.seek(position)
        data = f.read(1024 * 1024)
    complete = data[: data.rfind(b"\n") + 1]  # only whole lines; the rest is still being written
    return complete.decode().splitlines(), position + len(complete)


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value
