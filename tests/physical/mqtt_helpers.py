"""MQTT helpers of the physical-twin tests: the real Mosquitto, publishing, waiting for rows."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiomqtt
from helpers import unavailable

MOSQUITTO = ("127.0.0.1", 1883)


def require_mosquitto(host: str = MOSQUITTO[0], port: int = MOSQUITTO[1]) -> None:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        unavailable(f"Mosquitto is not reachable at {host}:{port}: {exc}")


def publish(messages: Iterable[tuple[str, Any]], port: int = MOSQUITTO[1], username: str | None = None,
            password: str | None = None) -> None:
    """Publish (topic, JSON document) pairs with QoS 1 and wait for every PUBACK."""

    async def run() -> None:
        async with aiomqtt.Client(MOSQUITTO[0], port, username=username, password=password) as client:
            for topic, document in messages:
                payload = document if isinstance(document, bytes) else json.dumps(document).encode()
                await client.publish(topic, payload, qos=1)

    asyncio.run(run())


def wait_for(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    """Poll until ``check()`` is truthy; a deadline, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
