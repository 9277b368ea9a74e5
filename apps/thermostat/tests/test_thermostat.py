"""Tests of the thermostat application: valid manifest as the engine sees it, and its logic."""

from __future__ import annotations

from pathlib import Path

import pytest
from thermostat.logic import heater_command, overheated

from dte.sdk import check_app

APP = Path(__file__).resolve().parents[1]


def test_manifest_is_valid() -> None:
    manifest = check_app(APP)
    assert manifest.name == "thermostat"
    assert {c.name: c.unit for c in manifest.channels} == {"temperature": "Cel", "heater": "%"}
    assert manifest.parameters["properties"]["setpoint"]["default"] == 21


@pytest.mark.parametrize(("temperature", "expected"), [(21.0, 0.0), (20.0, 25.0), (10.0, 100.0), (25.0, 0.0)])
def test_heater_command_is_proportional_and_clamped(temperature: float, expected: float) -> None:
    assert heater_command(temperature, setpoint=21.0, gain=25.0) == expected


def test_overheated() -> None:
    assert overheated(28.5, overheat=28.0)
    assert not overheated(28.0, overheat=28.0)
