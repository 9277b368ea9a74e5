"""Constants and helpers shared by the tests (imported as ``helpers``; fixtures live in conftest)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dte.client import Client

CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("DTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_TOKEN = "dte_pat_" + "t" * 43
REPO = Path(__file__).resolve().parents[1]


def unavailable(reason: str) -> None:
    """Outside CI a missing service skips the test; in CI (CI=true) it fails it."""
    if CI:
        pytest.fail(f"{reason} (CI=true: services are required)")
    pytest.skip(reason)


def client_for(engine: TestClient, token: str | None) -> Client:
    http = TestClient(engine.app, raise_server_exceptions=False)
    # Requests run on the engine's own event loop (as in a real server), not on one loop per request,
    # so background work they start (runs, streams) keeps going after the response.
    http.portal = engine.portal
    return Client(url="http://testserver", token=token or "", http=http)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


THERMO_MANIFEST = """\
name: thermo
version: 1.0.0
summary: Room thermostat twin
description: Keeps a room at its set-point.
authors: [{name: Ada, email: ada@example.org}]
licence: Apache-2.0
tags: [building, hvac]
parameters:
  type: object
  required: [room]
  properties:
    room: {type: string, minLength: 1}
    setpoint: {type: number, minimum: 5, maximum: 30, default: 21}
desired_state:
  type: object
  properties:
    setpoint: {type: number, minimum: 5, maximum: 30}
  additionalProperties: false
channels:
  - {name: temperature, unit: Cel, description: air temperature}
  - {name: heater, unit: "%", description: heater power}
outputs:
  - {name: comfort, kind: scalar}
workflows:
  control:
    description: compute heater power
    inputs:
      gain: {schema: {type: number}, default: 2.0}
    steps:
      error:
        component: core.scale
        in: {value: {state: /reported/temperature/value}, factor: -1, offset: {param: setpoint}}
      power:
        component: core.scale
        in: {value: {step: error}, factor: {input: gain}}
    outputs:
      power: power
triggers:
  every-minute: {workflow: control, schedule: {cron: "* * * * *"}}
"""


WFAPP = REPO / "tests" / "workflows" / "wfapp"  # the workflow test application


def lab(client: Client) -> str:
    """Project 'lab' with the workflow test application and an active twin 'lab/wf'; returns the twin id."""
    client.project_create("lab")
    client.app_publish("lab", WFAPP)
    twin = client.twin_create("lab", "wf", "wfapp", parameters={"factor": 3}, status="active")
    return twin.id
