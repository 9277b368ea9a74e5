"""``dte simulate``: a physical twin that publishes realistic device data and answers commands.

The default model is a room: temperature relaxes toward the outside and is pushed up by a heater
that a proportional controller drives toward the set-point; a ``desired`` command with
``setpoint`` changes the set-point, as a real thermostat would. Other channels are random walks.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import httpx
import structlog

from dte.adapters.mqtt_link import BrokerAddress
from dte.domain.topics import TopicScheme

log = structlog.get_logger("dte.simulate")


@dataclass
class Room:
    """A room with a heater; ``step`` advances it by ``dt`` seconds of simulated time."""

    temperature: float = 18.0
    setpoint: float = 21.0
    outside: float = 10.0
    gain: float = 25.0
    noise: float = 0.05
    heater: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def step(self, dt: float) -> dict[str, float]:
        self.heater = max(0.0, min(100.0, self.gain * (self.setpoint - self.temperature)))
        change = 0.02 * (self.outside - self.temperature) + 0.06 * self.heater / 10
        self.temperature += change * dt + self.rng.gauss(0, self.noise)
        return {"temperature": round(self.temperature, 3), "heater": round(self.heater, 1)}


@dataclass
class Simulator:
    project: str
    twin: str
    twin_id: str
    device: str
    device_id: str
    secret: str
    via: str = "mqtt"
    engine_url: str = "http://127.0.0.1:8000"
    mqtt_url: str = "mqtt://127.0.0.1:1884"
    topic: str = "dte/{project}/{twin}/{channel}"
    command_topic: str = "dte/{project}/{twin}/commands/{device}"
    rate: float = 1.0
    count: int | None = None
    room: Room = field(default_factory=Room)
    sent: int = 0
    commands: list[dict[str, Any]] = field(default_factory=list)

    async def run(self) -> None:
        if self.via == "mqtt":
            await self._run_mqtt()
        else:
            await self._run_http()

    def _records(self, seq: int) -> list[dict[str, Any]]:
        now = time.time()
        return [{"channel": name, "t": now, "v": value, "seq": seq * 10 + i}
                for i, (name, value) in enumerate(self.room.step(1 / self.rate).items())]

    async def _run_http(self) -> None:
        async with httpx.AsyncClient(base_url=self.engine_url, timeout=30,
                                     headers={"Authorization": f"Bearer {self.secret}"}) as http:
            seq = int(time.time())
            while self.count is None or self.sent < self.count:
                seq += 1
                response = await http.post(f"/api/v1/twins/{self.twin_id}/observations",
                                           params={"source": "simulator"}, json={"observations": self._records(seq)})
                if response.status_code == 202:
                    self.sent += 1
                else:
                    log.warning("simulate_refused", status=response.status_code, body=response.text[:200])
                await asyncio.sleep(1 / self.rate)

    async def _run_mqtt(self) -> None:
        base = BrokerAddress.parse(self.mqtt_url)
        address = BrokerAddress(base.host, base.port, base.username or self.device_id, base.password or self.secret,
                                base.tls)
        scheme, commands = TopicScheme(self.topic), TopicScheme(self.command_topic)
        command_topic = commands.format(project=self.project, twin=self.twin, device=self.device)
        seq = int(time.time())
        async with address.client(f"sim-{self.device_id}", clean_session=False) as client:
            await client.subscribe(command_topic, qos=1)
            listener = asyncio.create_task(self._answer(client, command_topic))
            try:
                while self.count is None or self.sent < self.count:
                    seq += 1
                    for record in self._records(seq):
                        topic = scheme.format(project=self.project, twin=self.twin, channel=record.pop("channel"))
                        await client.publish(topic, json.dumps({**record, "device": self.device}).encode(), qos=1)
                    self.sent += 1
                    await asyncio.sleep(1 / self.rate)
            finally:
                listener.cancel()

    async def _answer(self, client: aiomqtt.Client, topic: str) -> None:
        """Apply commands and acknowledge them: delivered at once, then applied (or failed)."""
        async for message in client.messages:
            if message.topic.value != topic:
                continue
            try:
                command = json.loads(message.payload)  # type: ignore[arg-type]
            except ValueError:
                continue
            await client.publish(topic + "/ack", json.dumps({"id": command["id"], "status": "delivered"}), qos=1)
            status, detail = self.apply(command)
            await client.publish(topic + "/ack", json.dumps({"id": command["id"], "status": status,
                                                             "detail": detail}), qos=1)
            self.commands.append(command)

    def apply(self, command: dict[str, Any]) -> tuple[str, str]:
        arguments = command.get("arguments") or {}
        if command.get("name") == "desired" and isinstance(arguments.get("setpoint"), int | float):
            self.room.setpoint = float(arguments["setpoint"])
            return "applied", f"set-point {self.room.setpoint}"
        if command.get("name") == "desired":
            return "applied", "nothing to change"
        return "failed", f"unknown command {command.get('name')!r}"
