"""Authentication and per-project isolation: who may see and do what.

Two projects, ``alpha`` and ``beta``, each with its own private application and twin; ``beta``
also publishes a public application. Non-members learn nothing about a project (404, and lists
leave its resources out); members are limited by their role, and tokens by their scopes and
project restriction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ADMIN_TOKEN, THERMO_MANIFEST, client_for
from starlette.testclient import TestClient

from dte.client import ApiError, Client
from dte.domain.twins import Twin

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check that ``response`` is an RFC 9457 problem with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:dte:problem:{code}"), body
    assert body["title"] and body["detail"]
    return body


def unauthenticated(response: httpx.Response, code: str = "invalid_token") -> None:
    problem(response, 401, code)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="dte"'


def fails(status: int, code: str, call: Any, *args: Any, **kwargs: Any) -> ApiError:
    """Call an SDK method that must fail with this status and code."""
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


def app_directory(root: Path, name: str) -> Path:
    directory = root / name
    directory.mkdir()
    (directory / "dte-app.yaml").write_text(THERMO_MANIFEST.replace("name: thermo", f"name: {name}"))
    (directory / "model.py").write_text("X = 1\n")
    return directory


@dataclass
class World:
    """Users (and their clients), projects, applications and twins of the access tests."""

    engine: TestClient
    admin: Client
    tokens: dict[str, str]
    alice: Client  # developer in alpha
    carol: Client  # user in alpha
    bob: Client  # developer in beta
    alpha_twin: Twin
    beta_twin: Twin
    root: Path

    def client(self, token: str) -> Client:
        return client_for(self.engine, token)


@pytest.fixture
def world(engine: TestClient, admin: Client, tmp_path: Path) -> World:
    admin.project_create("alpha", "Alpha")
    admin.project_create("beta", "Beta")
    tokens = {}
    for username, project, role in (("alice", "alpha", "developer"), ("carol", "alpha", "user"),
                                    ("bob", "beta", "developer")):
        admin.user_create(username)
        admin.member_set(project, username, role)
        tokens[username] = admin.token_create("tests", ["read", "write", "admin"], username=username).secret
    alice, carol, bob = (client_for(engine, tokens[u]) for u in ("alice", "carol", "bob"))
    alice.app_publish("alpha", app_directory(tmp_path, "alpha-app"))
    bob.app_publish("beta", app_directory(tmp_path, "beta-app"))
    bob.app_publish("beta", app_directory(tmp_path, "beta-public"), visibility="public")
    alpha_twin = carol.twin_create("alpha", "room-a", "alpha-app", parameters={"room": "A"})
    beta_twin = bob.twin_create("beta", "room-b", "beta-app", parameters={"room": "B"})
    return World(engine, admin, tokens, alice, carol, bob, alpha_twin, beta_twin, tmp_path)


# --- authentication --------------------------------------------------------------------------------

def test_requests_without_a_valid_token_are_401(engine: TestClient, admin: Client) -> None:
    unauthenticated(engine.get("/api/v1/me"), "missing_token")
    for header in ("Bearer", "Bearer   ", "Basic YWRtaW46YWRtaW4=", "Token " + ADMIN_TOKEN, ADMIN_TOKEN,
                   "Bearer not-a-dte-token", "Bearer dte_pat_" + "x" * 43, "Bearer dte_pat_" + "t" * 300,
                   "Bearer " + ADMIN_TOKEN[:-1]):
        unauthenticated(engine.get("/api/v1/me", headers={"Authorization": header}))
    assert admin.me().username == "admin"  # the real one works, with the scheme in any case
    assert engine.get("/api/v1/me", headers={"Authorization": "bearer " + ADMIN_TOKEN}).status_code == 200


def test_revoked_token_is_401_at_once(engine: TestClient, admin: Client) -> None:
    secret = admin.token_create("short-lived", expires_in_days=1)
    assert engine.get("/api/v1/me", headers=bearer(secret.secret)).status_code == 200
    admin.token_revoke(secret.id)
    unauthenticated(engine.get("/api/v1/me", headers=bearer(secret.secret)))
    unauthenticated(engine.get("/api/v1/projects", headers=bearer(secret.secret)))
    listed = {t.id: t for t in admin.token_list()}
    assert listed[secret.id].revoked_at is not None
    admin.token_revoke(secret.id)  # revoking twice is harmless
    fails(404, "token_not_found", admin.token_revoke, "0" * 32)


def test_users_cannot_revoke_each_others_tokens(world: World) -> None:
    carol_tokens = world.carol.token_list()
    fails(404, "token_not_found", world.alice.token_revoke, carol_tokens[0].id)
    assert world.carol.me().username == "carol"
    assert world.carol.token_list()[0].revoked_at is None
    assert carol_tokens[0].id not in [t.id for t in world.alice.token_list()]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_api_route_needs_a_token(engine: TestClient) -> None:
    """Walk the published routes: without a token, every /api/v1 call is 401 (schemas excepted)."""
    paths = engine.app.openapi()["paths"]
    checked = 0
    for path, operations in paths.items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/schemas/"):
            continue
        for method in operations:
            response = engine.request(method.upper(), _fill(path))
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="dte"', (method, path)
            assert response.json()["code"] == "missing_token"
            checked += 1
    assert checked >= 25  # the walk really covered the API
    assert engine.get("/api/v1/schemas/dte-app.json").status_code == 200


# --- isolation between projects ------------------------------------------------------------------

def test_non_members_see_nothing_of_a_project(world: World) -> None:
    alice, beta_twin = world.alice, world.beta_twin
    fails(404, "project_not_found", alice.project_get, "beta")
    fails(404, "project_not_found", alice.member_list, "beta")
    fails(404, "project_not_found", alice.twin_list, project="beta")
    assert [p.name for p in alice.project_list().items] == ["alpha"]
    assert alice.me().memberships == {"alpha": "developer"}
    # twins: the same 404 as for a twin that does not exist, on every path to it
    assert [t.name for t in alice.twin_list().items] == ["room-a"]
    for call in (alice.twin_get, alice.twin_state, alice.twin_history):
        fails(404, "twin_not_found", call, beta_twin.id)
    fails(404, "twin_not_found", alice.twin_set_state, beta_twin.id, "desired", {"setpoint": 20})
    fails(404, "twin_not_found", alice.twin_update, beta_twin.id, {"status": "retired"})
    assert world.bob.twin_get(beta_twin.id).revision == 1  # nothing happened to it
    # private applications: invisible; public ones: visible to everyone
    for call in (alice.app_get, alice.app_versions):
        fails(404, "application_not_found", call, "beta-app")
    fails(404, "application_not_found", alice.app_version, "beta-app", "1.0.0")
    fails(404, "application_not_found", alice.app_pull, "beta-app", "1.0.0", world.root / "pulled")
    assert sorted(a.name for a in alice.app_search().items) == ["alpha-app", "beta-public"]
    assert alice.app_search(q="thermostat", project="beta").items[0].name == "beta-public"
    assert alice.app_get("beta-public").project == "beta"
    # a public application can be used in your own project, a private one cannot
    assert alice.twin_create("alpha", "room-p", "beta-public", parameters={"room": "P"}).application == "beta-public"
    fails(404, "application_not_found", alice.twin_create, "alpha", "room-q", "beta-app", parameters={"room": "Q"})
    # and nothing can be written into the other project
    fails(404, "project_not_found", alice.twin_create, "beta", "room-x", "beta-public", parameters={"room": "X"})
    fails(404, "project_not_found", alice.app_publish, "beta", app_directory(world.root, "sneaky"))
    fails(404, "project_not_found", alice.member_set, "beta", "alice", "admin")
    assert [t.name for t in world.bob.twin_list().items] == ["room-b"]
    assert [m.username for m in world.bob.member_list("beta")] == ["admin", "bob"]


def test_non_members_cannot_change_a_public_application(world: World) -> None:
    fails(404, "application_not_found", world.alice.app_set_visibility, "beta-public", "private")
    fails(404, "application_not_found", world.alice.app_deprecate, "beta-public", "1.0.0", "mine now")
    assert world.bob.app_get("beta-public").visibility == "public"
    assert world.bob.app_version("beta-public", "1.0.0").deprecated is False


def test_an_application_made_private_disappears_for_others(world: World) -> None:
    twin = world.alice.twin_create("alpha", "room-p", "beta-public", parameters={"room": "P"})
    world.bob.app_set_visibility("beta-public", "private")
    fails(404, "application_not_found", world.alice.app_get, "beta-public")
    fails(404, "application_not_found", world.alice.twin_create, "alpha", "room-q", "beta-public",
          parameters={"room": "Q"})
    assert "beta-public" not in [a.name for a in world.alice.app_search().items]
    # a twin already made from it in another project keeps working
    assert world.alice.twin_set_state(twin.id, "desired", {"setpoint": 19}).desired == {"setpoint": 19}
    assert world.bob.app_get("beta-public").visibility == "private"


# --- roles, scopes, restricted tokens ------------------------------------------------------------

def test_roles_limit_what_members_do(world: World) -> None:
    carol, alice = world.carol, world.alice
    # user: may run twins, may not publish or manage the application or the project
    fails(403, "insufficient_role", carol.app_publish, "alpha", app_directory(world.root, "carol-app"))
    fails(403, "insufficient_role", carol.app_set_visibility, "alpha-app", "public")
    fails(403, "insufficient_role", carol.app_deprecate, "alpha-app", "1.0.0", "no")
    fails(403, "insufficient_role", carol.member_set, "alpha", "carol", "admin")
    assert carol.twin_set_state(world.alpha_twin.id, "desired", {"setpoint": 22}).revision == 2
    # developer: may publish, may not manage members
    assert alice.app_publish("alpha", app_directory(world.root, "alice-app")).created
    fails(403, "insufficient_role", alice.member_set, "alpha", "carol", "developer")
    fails(403, "insufficient_role", alice.member_remove, "alpha", "carol")
    # platform administration
    for client in (alice, carol):
        fails(403, "insufficient_role", client.project_create, "gamma")
        fails(403, "insufficient_role", client.user_list)
        fails(403, "insufficient_role", client.user_create, "mallory", platform_admin=True)
        fails(403, "insufficient_role", client.token_create, "for-bob", username="bob")
    assert {m.username: m.role for m in world.admin.member_list("alpha")} == {
        "admin": "admin", "alice": "developer", "carol": "user"}
    assert [p.name for p in world.admin.project_list().items] == ["alpha", "beta"]


def test_read_only_token_cannot_write(world: World) -> None:
    reader = world.client(world.alice.token_create("reader", scopes=["read"]).secret)
    assert reader.twin_get(world.alpha_twin.id).name == "room-a"
    assert reader.me().scopes == ["read"]
    fails(403, "insufficient_scope", reader.twin_set_state, world.alpha_twin.id, "reported", {"t": 20})
    fails(403, "insufficient_scope", reader.twin_update, world.alpha_twin.id, {"description": "x"})
    fails(403, "insufficient_scope", reader.twin_create, "alpha", "room-r", "alpha-app", parameters={"room": "R"})
    fails(403, "insufficient_scope", reader.app_publish, "alpha", app_directory(world.root, "reader-app"))
    fails(403, "insufficient_scope", reader.token_create, "wider", scopes=["read", "write"])
    assert world.alice.twin_get(world.alpha_twin.id).revision == 1
    assert [t.name for t in world.alice.twin_list().items] == ["room-a"]


def test_write_only_token_sees_nothing(world: World) -> None:
    """Without the read scope a token cannot read - nor find the things it would write to."""
    writer = world.client(world.alice.token_create("writer", scopes=["write"]).secret)
    fails(404, "project_not_found", writer.project_get, "alpha")
    fails(404, "twin_not_found", writer.twin_set_state, world.alpha_twin.id, "reported", {"t": 1})
    assert world.alice.twin_get(world.alpha_twin.id).revision == 1


def test_project_restricted_token_sees_one_project(world: World) -> None:
    world.admin.member_set("beta", "alice", "user")  # alice is now in both projects
    assert world.alice.me().memberships == {"alpha": "developer", "beta": "user"}
    restricted = world.client(world.alice.token_create("alpha-only", project="alpha").secret)
    assert restricted.me().memberships == {"alpha": "developer"}
    assert [p.name for p in restricted.project_list().items] == ["alpha"]
    assert [t.name for t in restricted.twin_list().items] == ["room-a"]
    fails(404, "project_not_found", restricted.project_get, "beta")
    fails(404, "twin_not_found", restricted.twin_get, world.beta_twin.id)
    fails(404, "application_not_found", restricted.app_get, "beta-app")
    assert world.alice.app_get("beta-app").project == "beta"  # her unrestricted token can
    fails(403, "insufficient_scope", restricted.token_create, "escape")
    fails(422, "invalid_token_project", world.carol.token_create, "elsewhere", project="beta")


def test_project_restricted_admin_token_is_not_a_platform_admin(world: World) -> None:
    """A platform admin's token restricted to one project cannot mint users or tokens (which would
    not be restricted) nor create projects: it acts inside its project only."""
    restricted = world.client(world.admin.token_create("alpha-admin", project="alpha",
                                                       scopes=["read", "write", "admin"]).secret)
    fails(403, "insufficient_scope", restricted.user_create, "mallory", platform_admin=True)
    fails(403, "insufficient_scope", restricted.token_create, "for-bob", username="bob")
    fails(403, "insufficient_scope", restricted.user_list)
    fails(403, "insufficient_scope", restricted.project_create, "gamma")
    fails(404, "project_not_found", restricted.member_list, "beta")
    assert restricted.member_set("alpha", "bob", "user").role == "user"  # within alpha it is admin
    assert [u.username for u in world.admin.user_list().items] == ["admin", "alice", "bob", "carol"]
    assert [t.name for t in world.bob.token_list()] == ["tests"]


def test_a_project_keeps_one_admin(world: World) -> None:
    admin = world.admin
    fails(409, "last_admin", admin.member_set, "alpha", "admin", "developer")
    fails(409, "last_admin", admin.member_remove, "alpha", "admin")
    assert {m.username: m.role for m in admin.member_list("alpha")}["admin"] == "admin"
    admin.member_set("alpha", "alice", "admin")
    admin.member_set("alpha", "admin", "developer")  # another admin remains: allowed
    alice = world.alice
    fails(409, "last_admin", alice.member_set, "alpha", "alice", "user")
    fails(409, "last_admin", alice.member_remove, "alpha", "alice")
    assert {m.username: m.role for m in alice.member_list("alpha")} == {
        "admin": "developer", "alice": "admin", "carol": "user"}
    alice.member_remove("alpha", "carol")
    fails(404, "project_not_found", world.carol.project_get, "alpha")  # removal takes effect at once
    fails(404, "twin_not_found", world.carol.twin_get, world.alpha_twin.id)
