"""``core.*``: small general-purpose components - wiring helpers, arithmetic, waiting and failing on
purpose (for testing workflows and measuring the engine's own overhead)."""

from __future__ import annotations

import time
from typing import Any

from dte.sdk.component import component


@component(version="1")
def noop() -> None:
    """Do nothing (measures the engine's per-step overhead)."""


@component(version="1")
def identity(value: Any) -> Any:
    """Pass a value on unchanged."""
    return value


@component(version="1")
def sleep(seconds: float, value: Any = None) -> Any:
    """Wait, then pass ``value`` on."""
    time.sleep(seconds)
    return value


@component(version="1")
def add(a: float, b: float) -> float:
    """a + b."""
    return a + b


@component(version="1")
def scale(value: float, *, factor: float = 1.0, offset: float = 0.0) -> float:
    """value * factor + offset (unit conversion, calibration)."""
    return value * factor + offset


@component(version="1")
def mean(values: list[float]) -> float:
    """Arithmetic mean of a non-empty list."""
    if not values:
        raise ValueError("mean of an empty list")
    return sum(values) / len(values)


@component(version="1")
def fail(message: str = "failed on purpose") -> None:
    """Raise an error (to test failure handling)."""
    raise RuntimeError(message)
