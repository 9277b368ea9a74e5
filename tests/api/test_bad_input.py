"""Bad input gets a 4xx RFC 9457 problem naming what is wrong - and changes nothing.

Every case compares everything a client can read (plus the object store's files) before and
after the refused request, so a partial write cannot hide behind a correct status code.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ADMIN_TOKEN, THERMO_MANIFEST
from starlette.testclient import TestClient

from dte.client import Client
from dte.domain.bundle import pack
from dte.domain.twins import Twin
from dte.settings import Settings

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
LIMIT = 256 * 1024  # the settings fixture's max_body_bytes
THERMO_PY = b"def control(t: float) -> float:\n    return 21.0 - t\n"


def problem(response: httpx.Response, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    """Check that ``response`` is an RFC 9457 problem with this status and code (and field pointer)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:dte:problem:{code}"), body
    assert body["title"] and body["detail"]
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body.get("errors", [])], body
    return body


def everything(admin: Client, settings: Settings) -> dict[str, Any]:
    """All the state a platform admin can read through the API, and the files of the object store."""
    projects = admin.project_list(limit=500).items
    apps = admin.app_search(limit=500).items
    twins = admin.twin_list(limit=500).items
    objects = settings.data_dir / "objects"
    return {
        "projects": [p.model_dump() for p in projects],
        "members": {p.name: [m.model_dump() for m in admin.member_list(p.name)] for p in projects},
        "users": [u.model_dump() for u in admin.user_list(limit=500).items],
        "tokens": [t.model_dump(exclude={"last_used_at"}) for t in admin.token_list()],
        "apps": [a.model_dump() for a in apps],
        "versions": {a.name: [v.model_dump() for v in admin.app_versions(a.name)] for a in apps},
        "twins": [t.model_dump() for t in twins],
        "history": {t.id: admin.twin_history(t.id, limit=500).model_dump() for t in twins},
        "objects": sorted(str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file()),
    }


class Unchanged:
    """``take()`` before refused requests, ``check()`` after each: nothing readable may differ.

    A difference is reported once: ``check()`` compares with the last look and then keeps the
    new one, so one accepted bad request does not fail every case after it.
    """

    def __init__(self, admin: Client, settings: Settings) -> None:
        self.admin, self.settings = admin, settings
        self.before: dict[str, Any] | None = None

    def take(self) -> None:
        self.before = everything(self.admin, self.settings)

    def check(self) -> None:
        assert self.before is not None, "take() first"
        before, self.before = self.before, everything(self.admin, self.settings)
        assert self.before == before


@pytest.fixture
def unchanged(admin: Client, settings: Settings) -> Unchanged:
    return Unchanged(admin, settings)


@pytest.fixture
def twin(admin: Client, app_dir: Path) -> Twin:
    """Project ``lab`` with thermo 1.0.0 (private) and one twin of it."""
    admin.project_create("lab", "Lab")
    admin.app_publish("lab", app_dir)
    return admin.twin_create("lab", "room-1", "thermo", parameters={"room": "R1"})


def publish(engine: TestClient, bundle: bytes | Iterator[bytes], project: str = "lab") -> httpx.Response:
    return engine.post("/api/v1/applications", params={"project": project}, content=bundle,
                       headers={**AUTH, "Content-Type": "application/gzip"})


def manifest_bundle(manifest: str) -> bytes:
    return pack([("dte-app.yaml", manifest.encode(), False), ("thermo.py", THERMO_PY, False)])


def variant(*replacements: tuple[str, str]) -> str:
    """THERMO_MANIFEST as version 2.0.0 (so acceptance would be a visible write), with edits."""
    text = THERMO_MANIFEST.replace("version: 1.0.0", "version: 2.0.0")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


ROOM = "room: {type: string, minLength: 1}"
CONTROL = "    description: compute heater power"
DESIRED = "desired_state:\n  type: object\n  properties:\n    setpoint: {type: number, minimum: 5, maximum: 30}"
MANIFESTS: list[tuple[str, str, str | None]] = [  # (case, dte-app.yaml, pointer of the bad field)
    ("not YAML", "name: thermo\nversion: [2.0.0\n", None),
    ("not a mapping", "- thermo\n- 2.0.0\n", ""),
    ("missing name", variant(("name: thermo\n", "")), "/name"),
    ("name not a slug", variant(("name: thermo", "name: Thermo_1")), "/name"),
    ("version not semver", variant(("version: 2.0.0", "version: '2.0'")), "/version"),
    ("version with leading zero", variant(("version: 2.0.0", "version: 02.0.0")), "/version"),
    ("version a YAML number", variant(("version: 2.0.0", "version: 2.0")), "/version"),
    ("parameters not a JSON Schema", variant((ROOM, "room: {type: strin}")), "/parameters"),
    ("parameters not an object schema", variant(("parameters:\n  type: object", "parameters:\n  type: array")),
     "/parameters"),
    ("remote $ref in parameters", variant((ROOM, "room: {$ref: 'https://example.invalid/room.json'}")),
     "/parameters"),
    ("dangling local $ref", variant((ROOM, "room: {$ref: '#/$defs/room'}")), "/parameters"),
    ("desired_state not a JSON Schema", variant((DESIRED, DESIRED.replace("minimum: 5", "minimum: five"))),
     "/desired_state"),
    ("trigger starts an unknown workflow", variant(("every-minute: {workflow: control,",
                                                    "every-minute: {workflow: heat,")), "/triggers"),
    ("channel name twice", variant(("  - {name: heater,", "  - {name: temperature,")), "/channels"),
    ("unknown top-level key", variant(("licence: Apache-2.0", "licence: Apache-2.0\ncolour: blue")), "/colour"),
    ("unknown channel field", variant(("unit: Cel,", "unit: Cel, rate: 1,")), "/channels/0/rate"),
    ("YAML alias", variant(("tags: [building, hvac]", "tags: &t [building, hvac]\nkeywords: *t")), None),
    ("YAML .nan", variant((CONTROL, "    description: x\n    timeout: .nan")), "/workflows/control/timeout"),
    ("YAML date", variant(("description: Keeps a room at its set-point.", "description: 2024-01-31")),
     "/description"),
    ("YAML binary", variant((CONTROL, "    description: x\n    blob: !!binary AAEC")),
     "/workflows/control/blob"),
]


def test_invalid_manifests_are_refused(engine: TestClient, twin: Twin, unchanged: Unchanged,
                                       subtests: pytest.Subtests) -> None:
    unchanged.take()
    for case, manifest, pointer in MANIFESTS:
        with subtests.test(case):
            problem(publish(engine, manifest_bundle(manifest)), 422, "invalid_manifest", pointer)
            unchanged.check()


def test_manifest_variants_are_valid_apart_from_their_edit(engine: TestClient, twin: Twin) -> None:
    """The cases above fail for their edit alone: the unedited 2.0.0 variant publishes."""
    assert publish(engine, manifest_bundle(variant())).status_code == 201


def _tar_gz(*entries: tuple[str, bytes, bytes], gzipped: bool = True) -> bytes:
    """A tar.gz with entries (name, data, tar type) built by hand, unsafe ones included."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data.decode()
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue()) if gzipped else raw.getvalue()


MANIFEST_ENTRY = ("dte-app.yaml", variant().encode(), tarfile.REGTYPE)
GOOD = _tar_gz(MANIFEST_ENTRY)


def _corrupt(data: bytes) -> bytes:
    """Keep the gzip header, scramble the deflate stream (zlib fails, not the gzip reader)."""
    return data[:10] + b"\xff" * 40 + data[50:]


BUNDLES: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("not gzip", b"PK\x03\x04 this is a zip, not a tar.gz"),
    ("gzip but not tar", gzip.compress(b"just some text, no tar header here" * 20)),
    ("tar but not gzipped", _tar_gz(MANIFEST_ENTRY, gzipped=False)),
    ("corrupt deflate data", _corrupt(GOOD)),
    ("truncated gzip", GOOD[: len(GOOD) // 2]),
    ("path traversal", _tar_gz(MANIFEST_ENTRY, ("../x", b"escape", tarfile.REGTYPE))),
    ("nested path traversal", _tar_gz(MANIFEST_ENTRY, ("lib/../../x", b"escape", tarfile.REGTYPE))),
    ("absolute path", _tar_gz(MANIFEST_ENTRY, ("/etc/cron.d/x", b"escape", tarfile.REGTYPE))),
    ("backslash path", _tar_gz(MANIFEST_ENTRY, ("..\\x", b"escape", tarfile.REGTYPE))),
    ("symlink", _tar_gz(MANIFEST_ENTRY, ("passwd", b"/etc/passwd", tarfile.SYMTYPE))),
    ("hard link", _tar_gz(MANIFEST_ENTRY, ("copy", b"dte-app.yaml", tarfile.LNKTYPE))),
    ("device file", _tar_gz(MANIFEST_ENTRY, ("null", b"", tarfile.CHRTYPE))),
    ("no dte-app.yaml", _tar_gz(("thermo.py", THERMO_PY, tarfile.REGTYPE))),
    ("dte-app.yaml not at the top", _tar_gz(("thermo/dte-app.yaml", variant().encode(), tarfile.REGTYPE))),
    ("same file twice", _tar_gz(MANIFEST_ENTRY, MANIFEST_ENTRY)),
    ("a file that is also a folder", _tar_gz(MANIFEST_ENTRY, ("lib", b"x", tarfile.REGTYPE),
                                             ("lib/util.py", b"y", tarfile.REGTYPE))),
]


def test_broken_bundles_are_refused(engine: TestClient, twin: Twin, unchanged: Unchanged,
                                    subtests: pytest.Subtests) -> None:
    unchanged.take()
    for case, bundle in BUNDLES:
        with subtests.test(case):
            problem(publish(engine, bundle), 422, "invalid_bundle")
            unchanged.check()


def test_hand_built_bundle_is_valid_without_its_flaw(engine: TestClient, twin: Twin) -> None:
    """The bundle cases above fail for their flaw alone: the plain hand-built tar.gz publishes."""
    response = publish(engine, GOOD)
    assert response.status_code == 201 and response.json()["version"]["version"] == "2.0.0"


def test_published_versions_are_immutable(engine: TestClient, admin: Client, twin: Twin, app_dir: Path,
                                          unchanged: Unchanged) -> None:
    original = engine.get("/api/v1/applications/thermo/versions/1.0.0/bundle", headers=AUTH).content
    unchanged.take()
    same = pack([("dte-app.yaml", THERMO_MANIFEST.encode(), False), ("thermo.py", THERMO_PY, False)])
    again = publish(engine, same)
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["version"]["version"] == "1.0.0"
    unchanged.check()

    changed = pack([("dte-app.yaml", THERMO_MANIFEST.encode(), False), ("thermo.py", b"# changed\n", False)])
    problem(publish(engine, changed), 409, "version_exists")
    unchanged.check()  # neither the version nor the object store holds the refused bundle
    assert engine.get("/api/v1/applications/thermo/versions/1.0.0/bundle", headers=AUTH).content == original


def test_application_name_owned_by_another_project(engine: TestClient, admin: Client, twin: Twin,
                                                   unchanged: Unchanged) -> None:
    admin.project_create("other", "Other")
    unchanged.take()
    problem(publish(engine, manifest_bundle(variant()), project="other"), 409, "application_name_taken")
    problem(publish(engine, manifest_bundle(variant()), project="nowhere"), 404, "project_not_found")
    unchanged.check()
    assert admin.app_get("thermo").project == "lab"


def test_unknown_application_or_version(engine: TestClient, twin: Twin, unchanged: Unchanged) -> None:
    unchanged.take()
    for path in ("/api/v1/applications/nope", "/api/v1/applications/nope/versions",
                 "/api/v1/applications/nope/versions/1.0.0", "/api/v1/applications/nope/versions/latest/bundle"):
        problem(engine.get(path, headers=AUTH), 404, "application_not_found")
    for path in ("/api/v1/applications/thermo/versions/9.9.9", "/api/v1/applications/thermo/versions/9.9.9/bundle"):
        problem(engine.get(path, headers=AUTH), 404, "version_not_found")
    body = {"project": "lab", "name": "room-2", "parameters": {"room": "R2"}}
    problem(engine.post("/api/v1/twins", json={**body, "application": "nope"}, headers=AUTH),
            404, "application_not_found")
    problem(engine.post("/api/v1/twins", json={**body, "application": "thermo", "version": "9.9.9"}, headers=AUTH),
            404, "version_not_found")
    problem(engine.patch("/api/v1/applications/nope/versions/1.0.0", json={"deprecated": False}, headers=AUTH),
            404, "application_not_found")
    unchanged.check()


CREATE = {"project": "lab", "name": "room-2", "application": "thermo", "parameters": {"room": "R2"}}
TWIN_CASES: list[tuple[str, Any, int, str, str | None]] = [  # (case, body, status, code, pointer)
    ("missing required parameter", {**CREATE, "parameters": {}}, 422, "invalid_parameters", "/parameters"),
    ("parameter of the wrong type", {**CREATE, "parameters": {"room": 5}}, 422, "invalid_parameters",
     "/parameters/room"),
    ("parameter above its maximum", {**CREATE, "parameters": {"room": "R2", "setpoint": 99}}, 422,
     "invalid_parameters", "/parameters/setpoint"),
    ("parameter below its minimum", {**CREATE, "parameters": {"room": "R2", "setpoint": 1}}, 422,
     "invalid_parameters", "/parameters/setpoint"),
    ("parameter is NaN", json.dumps({**CREATE, "parameters": {"room": "R2", "setpoint": float("nan")}}), 422,
     "invalid_parameters", "/parameters/setpoint"),
    ("parameter is Infinity", json.dumps({**CREATE, "parameters": {"room": "R2", "setpoint": float("inf")}}),
     422, "invalid_parameters", "/parameters/setpoint"),
    ("binding to an unknown channel", {**CREATE, "bindings": {"pressure": {"device": "d1"}}}, 422,
     "invalid_bindings", "/bindings/pressure"),
    ("binding with an unknown field", {**CREATE, "bindings": {"temperature": {"colour": "red"}}}, 422,
     "invalid_input", "/bindings/temperature/colour"),
    ("twin name not a slug", {**CREATE, "name": "Room 2"}, 422, "invalid_input", "/name"),
    ("unknown field", {**CREATE, "colour": "red"}, 422, "invalid_input", "/colour"),
    ("missing project", {k: v for k, v in CREATE.items() if k != "project"}, 422, "invalid_input", "/project"),
    ("unknown status", {**CREATE, "status": "sleeping"}, 422, "invalid_input", "/status"),
    ("created retired", {**CREATE, "status": "retired"}, 422, "invalid_transition", "/status"),
    ("name taken in the project", {**CREATE, "name": "room-1"}, 409, "twin_exists", None),
    ("unknown project", {**CREATE, "project": "nowhere"}, 404, "project_not_found", None),
    ("body not an object", [CREATE], 422, "invalid_input", None),
]


def test_invalid_twins_are_refused(engine: TestClient, twin: Twin, unchanged: Unchanged,
                                   subtests: pytest.Subtests) -> None:
    unchanged.take()
    for case, body, status, code, pointer in TWIN_CASES:
        with subtests.test(case):
            raw = body if isinstance(body, str) else json.dumps(body)
            problem(engine.post("/api/v1/twins", content=raw, headers=JSON), status, code, pointer)
            unchanged.check()


def test_invalid_twin_update_changes_nothing(engine: TestClient, twin: Twin, unchanged: Unchanged) -> None:
    unchanged.take()
    url = f"/api/v1/twins/{twin.id}"
    problem(engine.patch(url, json={"parameters": {"room": "R1", "setpoint": 50}}, headers=AUTH),
            422, "invalid_parameters", "/parameters/setpoint")
    problem(engine.patch(url, json={"bindings": {"pressure": {}}}, headers=AUTH),
            422, "invalid_bindings", "/bindings/pressure")
    problem(engine.patch(url, json={"description": "x" * 2001}, headers=AUTH), 422, "invalid_input", "/description")
    # a valid change together with an invalid one: the valid part must not land either
    problem(engine.patch(url, json={"description": "new", "parameters": {"room": 1}}, headers=AUTH),
            422, "invalid_parameters", "/parameters/room")
    unchanged.check()


STATE_CASES: list[tuple[str, str, str, str, int, str, str | None]] = [
    # (case, method, kind, raw JSON body, status, code, pointer)
    ("desired above maximum", "PUT", "desired", '{"setpoint": 99}', 422, "invalid_state", "/desired/setpoint"),
    ("desired of the wrong type", "PUT", "desired", '{"setpoint": "warm"}', 422, "invalid_state",
     "/desired/setpoint"),
    ("desired with an unknown member", "PUT", "desired", '{"fan": 1}', 422, "invalid_state", "/desired"),
    ("desired merge patch breaking the schema", "PATCH", "desired", '{"setpoint": 4}', 422, "invalid_state",
     "/desired/setpoint"),
    ("reported NaN", "PUT", "reported", '{"t": NaN}', 422, "invalid_state", "/reported/t"),
    ("reported -Infinity in a patch", "PATCH", "reported", '{"a": {"t": -Infinity}}', 422, "invalid_state",
     "/reported/a/t"),
    ("reported NUL character", "PUT", "reported", '{"t": "a\\u0000b"}', 422, "invalid_state", "/reported/t"),
    ("reported nested too deeply", "PUT", "reported", '{"a":' * 80 + "1" + "}" * 80, 422, "invalid_state", None),
    ("document not an object", "PUT", "reported", "[1, 2]", 422, "invalid_input", None),
    ("unknown state kind", "PUT", "observed", "{}", 422, "invalid_input", "/kind"),
    ("malformed JSON", "PUT", "reported", '{"t": 1', 400, "malformed_json", None),
]


def test_invalid_states_are_refused(engine: TestClient, admin: Client, twin: Twin, unchanged: Unchanged,
                                    subtests: pytest.Subtests) -> None:
    admin.twin_set_state(twin.id, "desired", {"setpoint": 20})
    unchanged.take()
    for case, method, kind, body, status, code, pointer in STATE_CASES:
        with subtests.test(case):
            response = engine.request(method, f"/api/v1/twins/{twin.id}/state/{kind}", content=body, headers=JSON)
            problem(response, status, code, pointer)
            unchanged.check()
    assert admin.twin_state(twin.id).desired == {"setpoint": 20}


MALFORMED: list[tuple[str, str, bytes]] = [
    ("POST", "/api/v1/projects", b'{"name": "lab2",'),
    ("POST", "/api/v1/twins", b"{'project': 'lab'}"),
    ("PATCH", "/api/v1/twins/{id}", b'{"description": "x"} trailing'),
    ("POST", "/api/v1/tokens", b"\xff\xfe not even utf-8"),
    ("PUT", "/api/v1/projects/lab/members/admin", b'{"role": "user"'),
    ("PATCH", "/api/v1/twins/{id}/state/reported", b"[" * 5000 + b"]" * 5000),
]


def test_malformed_json_is_400(engine: TestClient, twin: Twin, unchanged: Unchanged,
                               subtests: pytest.Subtests) -> None:
    unchanged.take()
    for method, path, body in MALFORMED:
        with subtests.test(f"{method} {path}"):
            response = engine.request(method, path.format(id=twin.id), content=body, headers=JSON)
            problem(response, 400, "malformed_json")
            unchanged.check()


def _chunks(prefix: bytes, padding: int, suffix: bytes = b"") -> Iterator[bytes]:
    """A streamed body (chunked transfer, no Content-Length): prefix, ``padding`` x's, suffix."""
    yield prefix
    for start in range(0, padding, 16 * 1024):
        yield b"x" * min(16 * 1024, padding - start)
    yield suffix


def test_oversized_bodies_are_413(engine: TestClient, admin: Client, twin: Twin,
                                  unchanged: Unchanged) -> None:
    state_url = f"/api/v1/twins/{twin.id}/state/reported"
    big = json.dumps({"t": "x" * (LIMIT + 1)}).encode()
    unchanged.take()
    # declared by Content-Length: refused before the body is read
    problem(engine.put(state_url, content=big, headers=JSON), 413, "payload_too_large")
    problem(engine.post("/api/v1/projects", content=json.dumps({"name": "big", "description": "x" * LIMIT}),
                        headers=JSON), 413, "payload_too_large")
    problem(publish(engine, b"\x1f\x8b" + b"\x00" * LIMIT), 413, "payload_too_large")
    # streamed without a length: refused while reading
    problem(engine.put(state_url, content=_chunks(b'{"t": "', LIMIT, b'"}'), headers=JSON),
            413, "payload_too_large")
    problem(engine.post("/api/v1/twins", content=_chunks(b'{"description": "', LIMIT, b'"}'),
                        headers=JSON), 413, "payload_too_large")
    problem(publish(engine, _chunks(b"\x1f\x8b", LIMIT)), 413, "payload_too_large")
    unchanged.check()
    # the limit is the limit, not less: a body just under it is accepted, streamed or not
    near = LIMIT - 1024
    assert engine.put(state_url, content=json.dumps({"t": "x" * near}), headers=JSON).status_code == 200
    streamed = engine.put(state_url, content=_chunks(b'{"t": "', near + 1, b'"}'), headers=JSON)
    assert streamed.status_code == 200 and len(admin.twin_state(twin.id).reported["t"]) == near + 1


def test_stale_if_match_is_412(engine: TestClient, admin: Client, twin: Twin,
                               unchanged: Unchanged) -> None:
    assert admin.twin_set_state(twin.id, "desired", {"setpoint": 20}, revision=1).revision == 2
    unchanged.take()
    for tag in ('"1"', 'W/"1"', '"1", "3"', "garbage"):
        headers = {**JSON, "If-Match": tag}
        problem(engine.put(f"/api/v1/twins/{twin.id}/state/desired", content='{"setpoint": 25}', headers=headers),
                412, "revision_mismatch")
        problem(engine.patch(f"/api/v1/twins/{twin.id}/state/reported", content='{"t": 1}', headers=headers),
                412, "revision_mismatch")
        problem(engine.patch(f"/api/v1/twins/{twin.id}", json={"description": "stale"}, headers=headers),
                412, "revision_mismatch")
    unchanged.check()
    state = admin.twin_state(twin.id)
    assert (state.revision, state.desired) == (2, {"setpoint": 20})
    # the current revision, weak or in a list, or "*", is accepted
    for revision, tag in ((2, 'W/"2"'), (3, '"1", "3"'), (4, "*")):
        response = engine.put(f"/api/v1/twins/{twin.id}/state/desired", content='{"setpoint": 22}',
                              headers={**JSON, "If-Match": tag})
        assert response.status_code == 200 and response.json()["revision"] == revision + 1
        assert response.headers["ETag"] == f'"{revision + 1}"'


def test_lifecycle_transitions(engine: TestClient, admin: Client, twin: Twin,
                               unchanged: Unchanged) -> None:
    url = f"/api/v1/twins/{twin.id}"
    unchanged.take()
    problem(engine.patch(url, json={"status": "paused"}, headers=AUTH), 409, "invalid_transition")
    unchanged.check()
    for status in ("active", "paused", "active", "retired"):
        assert admin.twin_update(twin.id, {"status": status}).status == status
    unchanged.take()
    for body in ({"status": "active"}, {"status": "paused"}, {"status": "created"}):
        problem(engine.patch(url, json=body, headers=AUTH), 409, "invalid_transition")
    problem(engine.patch(url, json={"description": "still here"}, headers=AUTH), 409, "twin_retired")
    problem(engine.patch(url, json={"parameters": {"room": "R9"}}, headers=AUTH), 409, "twin_retired")
    problem(engine.put(f"{url}/state/desired", json={"setpoint": 20}, headers=AUTH), 409, "twin_retired")
    problem(engine.patch(f"{url}/state/reported", json={"t": 1}, headers=AUTH), 409, "twin_retired")
    unchanged.check()
    assert admin.twin_get(twin.id).status == "retired"


BAD_CURSORS = ["!!!!", "AA", "%%%%", "a", "é", "____", "YWJj\n"]  # AA and ____: not printable ASCII


def test_bad_cursor_is_422(engine: TestClient, admin: Client, twin: Twin, unchanged: Unchanged) -> None:
    admin.project_create("lab2")
    unchanged.take()
    lists = ["/api/v1/projects", "/api/v1/twins", "/api/v1/applications", "/api/v1/users",
             f"/api/v1/twins/{twin.id}/state/history"]
    for path in lists:
        for cursor in BAD_CURSORS:
            body = problem(engine.get(path, params={"cursor": cursor}, headers=AUTH), 422, "invalid_input", "/cursor")
            assert body["errors"][0]["location"] == "query"
    # integer keys (revisions): a cursor must hold a number that fits the column
    for key in ("abc", "99999999999999999999", "-1"):
        cursor = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
        problem(engine.get(lists[-1], params={"cursor": cursor}, headers=AUTH), 422, "invalid_input", "/cursor")
    unchanged.check()
    # the cursors the API hands out do work
    first = admin.project_list(limit=1)
    assert first.next_cursor and [p.name for p in admin.project_list(cursor=first.next_cursor).items] == ["lab2"]


def test_deprecated_version_cannot_make_new_twins(engine: TestClient, admin: Client, twin: Twin,
                                                   unchanged: Unchanged) -> None:
    url = "/api/v1/applications/thermo/versions/1.0.0"
    unchanged.take()
    problem(engine.patch(url, json={"deprecated": True}, headers=AUTH), 422, "invalid_input")
    problem(engine.patch(url, json={"deprecated": True, "deprecation_message": "   "}, headers=AUTH),
            422, "invalid_input")
    unchanged.check()
    admin.app_deprecate("thermo", "1.0.0", "sensor model retired")
    unchanged.take()
    body = {**CREATE, "version": "1.0.0"}
    detail = problem(engine.post("/api/v1/twins", json=body, headers=AUTH), 409, "version_deprecated")["detail"]
    assert "sensor model retired" in detail
    # with its only version deprecated, the application has no usable default version either
    problem(engine.post("/api/v1/twins", json=CREATE, headers=AUTH), 404, "version_not_found")
    unchanged.check()
    assert admin.twin_get(twin.id).version == "1.0.0"  # existing twins keep working


def test_times_out_of_range_are_422(engine: TestClient, twin: Twin, unchanged: Unchanged) -> None:
    unchanged.take()
    url = f"/api/v1/twins/{twin.id}/state"
    problem(engine.get(url, params={"as_of": "0001-01-01T00:00:00+01:00"}, headers=AUTH),
            422, "invalid_input", "/as_of")
    problem(engine.get(f"{url}/history", params={"until": "9999-12-31T23:59:59-12:00"}, headers=AUTH),
            422, "invalid_input", "/until")
    problem(engine.get(f"{url}/history", params={"since": "yesterday"}, headers=AUTH), 422, "invalid_input", "/since")
    unchanged.check()
    # the extremes that do exist in UTC are fine
    assert engine.get(url, params={"as_of": "9999-12-31T23:59:59Z"}, headers=AUTH).status_code == 200


def test_values_a_database_cannot_store_are_4xx(engine: TestClient, twin: Twin,
                                                unchanged: Unchanged) -> None:
    """NUL characters and over-long values in paths, queries and fields: never a 500 (PostgreSQL
    refuses NUL in text; where SQLite would take it, the engine refuses it too or it finds nothing)."""
    unchanged.take()
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/projects/a%00b", {}),
        ("GET", "/api/v1/twins/a%00b", {}),
        ("GET", "/api/v1/applications", {"params": {"q": "a\x00b"}}),
        ("GET", "/api/v1/applications", {"params": {"tag": "\x00"}}),
        ("GET", "/api/v1/twins", {"params": {"project": "l\x00b"}}),
        ("PUT", "/api/v1/projects/lab/members/a%00b", {"json": {"role": "user"}}),
    ]
    for method, path, kwargs in requests:
        response = engine.request(method, path, headers=AUTH, **kwargs)
        assert response.status_code < 500, (method, path, response.text)
        if not response.is_success:
            assert response.headers["content-type"] == "application/problem+json"
    for field in ({"title": "a\x00b"}, {"description": "\x00"}):
        problem(engine.post("/api/v1/projects", json={"name": "lab3", **field}, headers=AUTH),
                422, "invalid_input", f"/{next(iter(field))}")
    problem(engine.post("/api/v1/twins", json={**CREATE, "bindings": {"temperature": {"device": "\x00"}}},
                        headers=AUTH), 422, "invalid_input", "/bindings/temperature/device")
    problem(engine.post("/api/v1/users", json={"username": "bob", "email": "bob@" + "x" * 400}, headers=AUTH),
            422, "invalid_input", "/email")
    unchanged.check()
