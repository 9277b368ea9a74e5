"""ASGI middleware: request body limit (413) and Prometheus request metrics."""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dte.api.problems import problem
from dte.domain.errors import PayloadTooLarge

access = structlog.get_logger("dte.access")


class BodyLimit:
    """Refuse bodies over ``max_bytes``: at once from Content-Length, else while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = problem(413, "payload_too_large", f"the request body exceeds {self.max_bytes} bytes")
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise PayloadTooLarge(f"the request body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


class Observe:
    """Per request: an id (``X-Request-ID``, echoed), a structured access log line, and Prometheus
    counts and latencies by route template (not raw path, to bound label cardinality)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("dte_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=registry)
        self.latency = Histogram("dte_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5, 1, 2.5, 5, 10))

    @staticmethod
    def _route(scope: Scope) -> str:
        """The matched route's template; the router records it in the scope while routing."""
        route = scope.get("route")
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else secrets.token_hex(8)

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, recording)
            finally:
                route = self._route(scope)
                elapsed = time.perf_counter() - start
                self.requests.labels(scope["method"], route, str(status["code"])).inc()
                self.latency.labels(scope["method"], route).observe(elapsed)
                access.info("request", method=scope["method"], route=route, status=status["code"],
                            ms=round(elapsed * 1000, 2))
