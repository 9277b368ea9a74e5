"""Thermostat logic: plain, typed functions that the application's workflows call as steps."""

from __future__ import annotations

from dte.sdk import component


@component
def heater_command(temperature: float, setpoint: float, gain: float) -> float:
    """Proportional control: heater power in % (0-100) for the current error."""
    return max(0.0, min(100.0, gain * (setpoint - temperature)))


@component
def overheated(temperature: float, overheat: float) -> bool:
    """True when the room is above its overheat level."""
    return temperature > overheat
