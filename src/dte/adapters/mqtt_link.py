"""The engine's MQTT side: subscriber for observations, command publisher, embedded broker."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dte.api.deps import Runtime
    from dte.api.physical import Physical


async def mqtt_parts(stack: AsyncExitStack, rt: Runtime, physical: Physical) -> None:
    """Enter the MQTT parts the settings ask for into ``stack``."""
