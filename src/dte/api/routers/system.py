"""Health, readiness, metrics and published schemas: the only routes without authentication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from dte import __version__
from dte.api.deps import RuntimeDep, Session, principal
from dte.api.problems import problem
from dte.domain.manifest import manifest_json_schema

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="Readiness: database and object store reachable", response_model=None)
async def readyz(rt: RuntimeDep) -> dict[str, Any] | Response:
    checks: dict[str, str] = {}
    try:
        async with rt.db.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        await rt.objects.ping()
        checks["objects"] = "ok"
    except Exception as exc:
        checks["objects"] = f"failed: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    return problem(503, "not_ready", "; ".join(f"{k}: {v}" for k, v in checks.items()))


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response)
async def metrics(rt: RuntimeDep, db: Session, authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    if not rt.settings.metrics_public:
        (await principal(db, authorization)).require_platform_admin()
    return Response(generate_latest(rt.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/schemas/dte-app.json", summary="JSON Schema of the application manifest")
async def app_schema() -> dict[str, Any]:
    return manifest_json_schema()
