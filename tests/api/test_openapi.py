"""Property-based tests of the whole REST API from its own OpenAPI schema (schemathesis).

Every operation gets generated requests - valid and invalid - sent with the platform admin's
token to a seeded engine (path parameters point at a real project, application and twin, so the
generated bodies reach the services), and no answer may be a server error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import ADMIN_TOKEN
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from dte.api.app import create_app
from dte.client import Client
from dte.settings import Settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the [test] extra")
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_dict  # schemathesis 4.x API

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Building the app touches nothing on disk: the engine only starts (and migrates) in its lifespan.
SPEC = create_app(Settings(data_dir=Path("unused"), admin_token=ADMIN_TOKEN)).openapi()
schema = from_dict(SPEC)
schemathesis.serializer.alias("application/gzip", "application/octet-stream")  # bundles: raw bytes


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: this file is about request handling, the database matrix runs elsewhere."""
    return f"sqlite:///{tmp_path / 'dte.sqlite3'}"


@pytest.fixture
def seeded(admin: Client, app_dir: Path) -> dict[str, str]:
    """Real names and ids for the path parameters of generated requests."""
    admin.project_create("lab", "Lab")
    admin.app_publish("lab", app_dir, visibility="public")
    twin = admin.twin_create("lab", "room-1", "thermo", parameters={"room": "R1"})
    return {"twin_id": twin.id, "name": "thermo", "version": "1.0.0", "project": "lab", "username": "admin"}


# Live streams (Server-Sent Events) answer 200 and then never end: for them only the status counts.
STREAMS = {(method.upper(), path) for path, item in SPEC["paths"].items() for method, operation in item.items()
           if "text/event-stream" in operation.get("responses", {}).get("200", {}).get("content", {})}


def _request(case: Any) -> dict[str, Any]:
    """A generated case as keyword arguments of httpx (schemathesis serialises it for requests)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)
    if isinstance(kwargs.get("data"), (bytes, str)):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("cookies", None)
    allowed = {"method", "url", "params", "headers", "content", "data", "files", "json"}
    return {k: v for k, v in kwargs.items() if k in allowed}


def _send(engine: TestClient, case: Any) -> Any:
    """Send a generated case through the in-process engine."""
    return engine.request(**_request(case))


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, engine: TestClient, seeded: dict[str, str]) -> None:
    """Whatever the request, the engine answers it without a 5xx."""
    for key, value in list((case.path_parameters or {}).items()):
        if key in seeded and value:
            case.path_parameters[key] = seeded[key]
    if (case.method.upper(), case.path) in STREAMS:
        with engine.stream(**_request(case)) as response:  # the status, then hang up
            assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code}"
        return
    response = _send(engine, case)
    case.validate_response(response, checks=[not_a_server_error], headers=AUTH)

