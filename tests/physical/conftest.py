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
