"""Python SDK over the engine's REST API.

``Client`` is synchronous with one method per call; ``AsyncClient`` sends the same calls from
``dte.client.calls`` (``await client.send(calls.twin_get(twin_id))``). Both raise :class:`ApiError`
with the engine's problem details.
"""

from dte.client.calls import ApiError, Call
from dte.client.clients import AsyncClient, Client
from dte.client.config import resolve_token, resolve_url

__all__ = ["ApiError", "AsyncClient", "Call", "Client", "resolve_token", "resolve_url"]
