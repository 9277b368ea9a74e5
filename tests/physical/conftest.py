"""Fixtures of the physical-twin tests: an application with channels of every kind and a twin of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import client_for
from starlette.testclient import TestClient

from dte.client import Client

SENSOR_MANIFEST = """\
name: room
version: 1.0.0
summary: A room with sensors
desired_state:
  type: object
  properties:
    setpoint: {type: number, minimum: 5, maximum: 30}
  additionalProperties: false
channels:
  - {name: temperature, unit: Cel}
  - {name: heater, unit: "%"}
  - {name: door, unit: "1", kind: boolean}
  - {name: status, unit: "1", kind: string}
"""


@dataclass
class Room:
    twin_id: str
    device: Client  # authenticated with the device's secret
    secret: str


@pytest.fixture
def room_app(tmp_path: Path) -> Path:
    directory = tmp_path / "room"
    directory.mkdir()
    (directory / "dte-app.yaml").write_text(SENSOR_MANIFEST)
    return directory


@pytest.fixture
def room(engine: TestClient, admin: Client, room_app: Path) -> Room:
    """Project 'lab' with twin 'room-1' and its device 'sensor-1'."""
    admin.project_create("lab")
    admin.app_publish("lab", room_app)
    twin = admin.twin_create("lab", "room-1", "room")
    device = admin.device_create(twin.id, "sensor-1")
    return Room(twin.id, client_for(engine, device.secret), device.secret)


@pytest.fixture
def live(settings):  # type: ignore[no-untyped-def]
    """The engine served by uvicorn on a real port, in a thread (for streams an in-process client buffers)."""
    import threading
    import time

    import uvicorn
    from helpers import free_port

    from dte.api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the engine did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
