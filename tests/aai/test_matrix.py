"""Cross-project authorization matrix, generated from the OpenAPI route list.

Every route in the engine's OpenAPI document is called - routes added later are covered without
touching this file - by principals who must not get at project ``alpha``:

- an *outsider* (admin of project ``beta``, full scopes): a route naming one of alpha's resources
  answers 403/404; any answer at all carries nothing of alpha that the request did not already say;
- a member of alpha with a *read-only* token: no mutating route succeeds;
- *nobody* (no token): every protected route answers 401.

Path parameters are filled with alpha's resources: known names first, otherwise the first item the
owner sees in the route's collection (``/runs/{run_id}`` <- ``GET /runs``). Request bodies are the
smallest instance of the route's JSON schema. A route the matrix could not exercise past input
validation (422) is listed in the output, not silently passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ADMIN_TOKEN, THERMO_MANIFEST, client_for
from starlette.testclient import TestClient

from dte.api.openapi import PUBLIC_PREFIXES
from dte.domain.bundle import pack_directory

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MUTATING = {"post", "put", "patch", "delete"}
DENIED = {403, 404}
UNREACHED = {400, 409, 412, 413, 415, 422}  # refused before authorization could be told apart
SECRET_DESCRIPTION = "alpha-secret-description-7f3a"


@dataclass
class Alpha:
    values: dict[str, str]  # path parameter name -> alpha's value
    bundle: bytes  # a valid application bundle, for upload routes
    markers: set[str]  # strings only someone who can see alpha knows
    outsider: dict[str, str]
    reader: dict[str, str]
    owner: dict[str, str]


def _token(engine: TestClient, username: str, **body: Any) -> dict[str, str]:
    answer = engine.post(f"/api/v1/users/{username}/tokens", json={"name": "matrix", **body}, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['secret']}"}


@pytest.fixture
def alpha(engine: TestClient, tmp_path: Path) -> Alpha:
    for project in ("alpha", "beta"):
        assert engine.post("/api/v1/projects", json={"name": project, "description": SECRET_DESCRIPTION
                                                     if project == "alpha" else ""}, headers=ADMIN).status_code == 201
    for user, project, role in (("alice", "alpha", "admin"), ("carol", "alpha", "user"), ("bob", "beta", "admin")):
        engine.post("/api/v1/users", json={"username": user}, headers=ADMIN)
        engine.put(f"/api/v1/projects/{project}/members/{user}", json={"role": role}, headers=ADMIN)
    owner = _token(engine, "alice", scopes=["read", "write", "admin"])
    directory = tmp_path / "hidden-app"
    directory.mkdir()
    (directory / "dte-app.yaml").write_text(THERMO_MANIFEST.replace("name: thermo", "name: hidden-app"))
    (directory / "thermo.py").write_text("def control(t: float) -> float:\n    return 21.0 - t\n")
    alice = client_for(engine, owner["Authorization"].split()[1])
    published = alice.app_publish("alpha", directory, "private")
    twin = alice.twin_create("alpha", "hidden-twin", "hidden-app", None, {"room": "vault"}, {},
                             SECRET_DESCRIPTION, "active")
    alice_token = engine.get("/api/v1/tokens", headers=owner).json()[0]["id"]
    # Resources of other areas, made through their public API when the engine has it, so that their
    # routes are exercised with a real resource of alpha (the matrix itself never names them).
    engine.post(f"/api/v1/twins/{twin.id}/devices", json={"name": "sensor-1", "channels": ["temperature"]},
                headers=owner)
    engine.patch(f"/api/v1/twins/{twin.id}/state/reported", json={"temperature": {"value": 19.5}}, headers=owner)
    engine.post("/api/v1/runs", json={"twin": twin.id, "workflow": "control"}, headers=owner)
    values = {"project": "alpha", "twin_id": twin.id, "name": "hidden-app", "application": "hidden-app",
              "version": published.version.version, "username": "alice", "token_id": alice_token,
              "kind": "desired", "client_id": "dte-cli"}
    project_id = engine.get("/api/v1/projects/alpha", headers=owner).json()["id"]
    return Alpha(values=values, bundle=pack_directory(directory), markers={project_id, twin.id, "hidden-twin", "hidden-app", SECRET_DESCRIPTION,
                                         alice_token, published.version.bundle_sha256},
                 outsider=_token(engine, "bob", scopes=["read", "write", "admin"]),
                 reader=_token(engine, "carol", scopes=["read"]), owner=owner)


def routes(engine: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = engine.get("/openapi.json").json()
    found = [(method, path, operation) for path, operations in spec["paths"].items()
             for method, operation in operations.items() if not path.startswith(PUBLIC_PREFIXES)]
    assert len(found) > 20
    return found


def resolve(engine: TestClient, path: str, alpha: Alpha, spec_paths: set[str],
            placeholder: str | None = None) -> str | None:
    """The path with alpha's resources filled in; None if a parameter cannot be filled."""
    template = path
    for name in re.findall(r"{(\w+)}", template):
        value = _known(name, template, alpha) or _listed(engine, template, name, alpha, spec_paths) or placeholder
        if value is None:
            return None
        path = path.replace("{" + name + "}", value)
    return path


def _known(name: str, path: str, alpha: Alpha) -> str | None:
    if name == "name" and not path.startswith("/api/v1/applications"):
        return None  # a device's or an output's name: find it in the collection instead
    return alpha.values.get(name)


def _listed(engine: TestClient, path: str, name: str, alpha: Alpha, spec_paths: set[str]) -> str | None:
    collection = path.split("/{" + name + "}")[0]
    if collection not in spec_paths:
        return None
    filled = resolve(engine, collection, alpha, spec_paths)
    if filled is None:
        return None
    answer = engine.get(filled, headers=alpha.owner)
    if answer.status_code != 200:
        return None
    data = answer.json()
    items = data.get("items", []) if isinstance(data, dict) else data
    key = "id" if name.endswith("_id") else name
    first = next((i[key] for i in items if isinstance(i, dict) and isinstance(i.get(key), str)), None)
    if first is not None:
        alpha.markers.add(first)
    return first


def body_for(operation: dict[str, Any], spec: dict[str, Any], alpha: Alpha) -> dict[str, Any]:
    """Required query parameters from alpha's values; a body: the smallest valid JSON or the bundle."""
    kwargs: dict[str, Any] = {"params": {p["name"]: alpha.values.get(p["name"], "abc")
                                         for p in operation.get("parameters", [])
                                         if p["in"] == "query" and p.get("required")}}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = example(content["application/json"].get("schema", {}), spec)
    elif "application/gzip" in content:
        kwargs.update(content=alpha.bundle, headers={"Content-Type": "application/gzip"})
    elif content:
        kwargs.update(content=b"", headers={"Content-Type": next(iter(content))})
    return kwargs


def example(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    """The smallest instance of a JSON schema that validates (for the schemas this API uses)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(spec["components"]["schemas"][name], spec, depth + 1)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [s for s in schema[combinator] if s.get("type") != "null"] or schema[combinator]
            return example(options[0], spec, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {k: example(v, spec, depth + 1) for k, v in schema.get("properties", {}).items()
                if k in schema.get("required", []) and depth < 8}
    if kind == "array":
        return [example(schema.get("items", {}), spec, depth + 1) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        if schema.get("format") == "date-time":
            return datetime.now(UTC).isoformat()
        size = max(schema.get("minLength", 1), 3)
        for candidate in ("abc", "a" * size, "matrix-probe", "a1", "x.y"):
            if len(candidate) >= schema.get("minLength", 0) and re.search(schema.get("pattern", ""), candidate):
                return candidate
        return "a" * size
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    return None


def _leaks(response: httpx.Response, sent: str, alpha: Alpha) -> set[str]:
    return {m for m in alpha.markers if m in response.text and m not in sent}


def _call(engine: TestClient, method: str, path: str, operation: dict[str, Any], spec: dict[str, Any],
          alpha: Alpha, headers: dict[str, str]) -> tuple[httpx.Response, str]:
    kwargs = body_for(operation, spec, alpha)
    kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
    return engine.request(method, path, **kwargs), path + repr(kwargs.get("json", "")) + repr(kwargs["params"])


def test_cross_project_matrix(engine: TestClient, alpha: Alpha) -> None:
    spec = engine.get("/openapi.json").json()
    spec_paths = set(spec["paths"])
    failures: list[str] = []
    unreached: list[str] = []
    unfilled: list[str] = []
    for method, template, operation in routes(engine):
        path = resolve(engine, template, alpha, spec_paths)
        if path is None:  # still called: the resources it could fill must hold
            unfilled.append(f"{method.upper()} {template}")
            path = resolve(engine, template, alpha, spec_paths, placeholder="no-such-resource")
        names_alpha = path != template
        for who, headers in (("outsider", alpha.outsider), ("read-only member", alpha.reader)):
            if who == "read-only member" and method not in MUTATING:
                continue
            response, sent = _call(engine, method, path, operation, spec, alpha, headers)
            label = f"{method.upper()} {template} as {who}: {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{label} (server error)")
            elif response.status_code in UNREACHED:
                unreached.append(label)
            elif response.is_success and (names_alpha or who == "read-only member"):
                failures.append(f"{label} (allowed)")
            elif not response.is_success and response.status_code not in DENIED:
                failures.append(f"{label} (unexpected status)")
            leaked = _leaks(response, sent, alpha)
            if leaked:
                failures.append(f"{label} (leaks {sorted(leaked)})")
        anonymous = engine.request(method, path, **body_for(operation, spec, alpha))
        if anonymous.status_code != 401:
            failures.append(f"{method.upper()} {template} without a token: {anonymous.status_code}")
    print("\nnot exercised past validation:", *unreached, sep="\n  ")
    print("parameters not fillable from alpha's resources (called with a placeholder):", *unfilled, sep="\n  ")
    assert not failures, "\n".join(failures)

