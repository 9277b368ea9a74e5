"""The README tour through the SDK: project, publish, twin, state, state as of a time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from helpers import ADMIN_TOKEN

from dte.client import Client


def test_publish_twin_state_as_of(admin: Client, app_dir: Path, tmp_path: Path) -> None:
    admin.project_create("lab", "Lab")
    published = admin.app_publish("lab", app_dir)
    assert published.created and published.version.version == "1.0.0"
    assert len(published.version.bundle_sha256) == 64

    twin = admin.twin_create("lab", "room-1", "thermo", parameters={"room": "R1"})
    assert twin.parameters == {"room": "R1", "setpoint": 21}
    assert twin.status == "created" and twin.revision == 1

    first = admin.twin_set_state(twin.id, "desired", {"setpoint": 20}, revision=1)
    assert first.revision == 2 and first.desired == {"setpoint": 20}
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    second = admin.twin_set_state(twin.id, "desired", {"setpoint": 23}, merge=True, revision=2)
    assert second.revision == 3

    assert admin.twin_state(twin.id).desired == {"setpoint": 23}
    then = admin.twin_state(twin.id, as_of=between)
    assert then.revision == 2 and then.desired == {"setpoint": 20}

    pulled = admin.app_pull("thermo", "1.0.0", tmp_path / "pulled")
    assert sorted(p.name for p in pulled) == ["dte-app.yaml", "thermo.py"]


def test_health_readiness_metrics(engine, admin: Client) -> None:  # type: ignore[no-untyped-def]
    assert engine.get("/healthz").json()["status"] == "ok"
    ready = engine.get("/readyz").json()
    assert ready["checks"] == {"database": "ok", "objects": "ok"}
    admin.project_list()
    text = engine.get("/metrics").text
    assert 'dte_http_requests_total{method="GET",route="/api/v1/projects",status="200"}' in text


def test_metrics_can_require_an_admin(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from dte.api.app import create_app
    from dte.settings import Settings
    settings = Settings(data_dir=tmp_path, metrics_public=False, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as engine:
        assert engine.get("/metrics").status_code == 401
        assert engine.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_async_client(engine, admin: Client, app_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import httpx

    from dte.client import AsyncClient, calls

    admin.project_create("lab")
    admin.app_publish("lab", app_dir)

    async def scenario() -> list[str]:
        transport = httpx.ASGITransport(app=engine.app)
        async with AsyncClient("http://testserver", ADMIN_TOKEN,
                               http=httpx.AsyncClient(transport=transport, base_url="http://testserver")) as c:
            twin = await c.send(calls.twin_create("lab", "room-a", "thermo", parameters={"room": "A"}))
            state = await c.send(calls.twin_set_state(twin.id, "reported", {"temperature": 19.5}))
            assert state.reported == {"temperature": 19.5}
            page = await c.send(calls.twin_list(project="lab"))
            return [t.name for t in page.items]

    assert asyncio.run(scenario()) == ["room-a"]


def test_token_revocation_needs_write_scope_and_ownership(engine, admin: Client) -> None:  # type: ignore[no-untyped-def]
    from helpers import client_for

    from dte.client import ApiError

    admin.user_create("bob")
    bob_token = admin.token_create("bob-main", ["read", "write"], username="bob")
    victim = admin.token_create("victim", ["read"], username="bob")
    read_only = client_for(engine, admin.token_create("ro", ["read"]).secret)
    try:
        read_only.token_revoke(victim.id)
        raise AssertionError("a read-only token revoked a token")
    except ApiError as exc:
        assert exc.status in (403, 404)
    bob = client_for(engine, bob_token.secret)
    mine = admin.token_create("admin-2", ["read"])
    try:
        bob.token_revoke(mine.id)
        raise AssertionError("bob revoked the admin's token")
    except ApiError as exc:
        assert exc.status == 404
    bob.token_revoke(victim.id)
    assert [t.revoked_at is not None for t in bob.token_list() if t.id == victim.id] == [True]
