"""Components of the workflow test application."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from dte.sdk import component

log = logging.getLogger("wfapp")


@component
def double(x: float, factor: float = 2.0) -> float:
    """x * factor."""
    return x * factor


@component
def shout(text: str) -> str:
    """Print and log, then pass the text on in capitals."""
    print(f"saying {text}")
    log.info("logged %s", text)
    return text.upper()


def _count(marker: str) -> int:
    path = Path(marker)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@component
def flaky(marker: str, fail_times: int) -> int:
    """Fail the first ``fail_times`` calls (counted in a file), then return the call number."""
    count = _count(marker)
    if count <= fail_times:
        raise ConnectionError(f"call {count} fails on purpose")
    return count


@component
def counted(x: float) -> float:
    """x + 1 (the cache test checks whether it ran again)."""
    return x + 1


@component
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@component
def ramp(n: int) -> list[float]:
    """n numbers: large enough to travel as an artifact."""
    return [i * 0.5 for i in range(n)]


@component
def total(values: list[float]) -> float:
    return sum(values)


@component
def die_once(marker: str) -> str:
    """Kill the worker process the first time (as an out-of-memory kill would), succeed after."""
    if _count(marker) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"
