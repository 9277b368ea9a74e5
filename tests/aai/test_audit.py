"""The audit log: what gets recorded, who may read it, the hash chain under tampering, and a linear
chain with concurrent writers (several engines on one database)."""

from __future__ import annotations

import asyncio

import pytest
from helpers import ADMIN_TOKEN, client_for
from sqlalchemy import delete, select, update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from dte.adapters.db.engine import create_async, create_sync_engine, session_factory, upgrade
from dte.adapters.db.tables import AuditRow
from dte.cli.common import state
from dte.cli.main import app as cli
from dte.services.audit import AuditService
from dte.settings import Settings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def entries(engine: TestClient, **params: str) -> list[dict]:
    response = engine.get("/api/v1/audit", params={"limit": 500, **params}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_mutations_and_denials_are_recorded_reads_are_not(engine: TestClient) -> None:
    assert engine.post("/api/v1/projects", json={"name": "alpha"}, headers=ADMIN).status_code == 201
    engine.post("/api/v1/users", json={"username": "ivan"}, headers=ADMIN)
    ivan = engine.post("/api/v1/users/ivan/tokens", json={"name": "t"}, headers=ADMIN).json()["secret"]
    engine.get("/api/v1/projects/alpha", headers=ADMIN)
    assert engine.get("/api/v1/users", headers={"Authorization": f"Bearer {ivan}"}).status_code == 403
    assert engine.get("/api/v1/me", headers={"Authorization": "Bearer dte_pat_wrong"}).status_code == 401
    log = entries(engine)
    by_action = {(e["action"], e["outcome"]) for e in log}
    assert ("POST /api/v1/projects", "ok") in by_action
    assert ("GET /api/v1/users", "denied") in by_action
    assert ("GET /api/v1/me", "denied") in by_action
    assert not any(e["action"] == "GET /api/v1/projects/{project}" for e in log)
    created = next(e for e in log if e["action"] == "POST /api/v1/projects")
    assert created["actor"] == "admin" and created["status"] == 201
    denied = next(e for e in log if e["action"] == "GET /api/v1/users")
    assert denied["actor"] == "ivan" and denied["detail"]["user_id"]
    assert all(ivan not in str(e) and ADMIN_TOKEN not in str(e) for e in log)  # no secrets in the log
    assert [e["seq"] for e in log] == sorted((e["seq"] for e in log), reverse=True)


def test_project_admins_read_their_project_only(engine: TestClient) -> None:
    for name in ("alpha", "beta"):
        engine.post("/api/v1/projects", json={"name": name}, headers=ADMIN)
    engine.post("/api/v1/users", json={"username": "judy"}, headers=ADMIN)
    engine.put("/api/v1/projects/alpha/members/judy", json={"role": "admin"}, headers=ADMIN)
    judy = {"Authorization": "Bearer " + engine.post("/api/v1/users/judy/tokens", json={"name": "t",
            "scopes": ["read", "write", "admin"]}, headers=ADMIN).json()["secret"]}
    engine.put("/api/v1/projects/beta/members/judy", json={"role": "user"}, headers=ADMIN)
    own = engine.get("/api/v1/audit", params={"project": "alpha"}, headers=judy)
    assert own.status_code == 200 and own.json()["items"]
    assert {e["resource"] for e in own.json()["items"]} == {"/api/v1/projects/alpha/members/judy"}
    assert engine.get("/api/v1/audit", params={"project": "beta"}, headers=judy).status_code == 403
    assert engine.get("/api/v1/audit", headers=judy).status_code == 403
    assert engine.get("/api/v1/audit/verify", headers=judy).status_code == 403
    assert engine.get("/api/v1/audit", params={"project": "gamma"}, headers=judy).status_code == 404


def _tamper(settings: Settings, statement) -> None:  # noqa: ANN001 - an SQL statement
    sync = create_sync_engine(settings.effective_database_url)
    with sync.begin() as connection:
        connection.execute(statement)
    sync.dispose()


def _seed(engine: TestClient) -> None:
    for n in range(6):
        engine.post("/api/v1/projects", json={"name": f"p{n}"}, headers=ADMIN)
    assert engine.get("/api/v1/audit/verify", headers=ADMIN).json() == {
        "ok": True, "entries": 6, "head": entries(engine)[0]["hash"], "first_bad_seq": None, "problem": None}


@pytest.mark.parametrize("tampering", ["modified", "removed", "reordered", "rehashed"])
def test_tampering_is_detected(engine: TestClient, settings: Settings, tampering: str) -> None:
    _seed(engine)
    if tampering == "modified":
        _tamper(settings, update(AuditRow).where(AuditRow.seq == 3).values(actor="someone-else"))
    elif tampering == "removed":
        _tamper(settings, delete(AuditRow).where(AuditRow.seq == 3))
    elif tampering == "reordered":
        _tamper(settings, update(AuditRow).where(AuditRow.seq == 3).values(seq=100))
        _tamper(settings, update(AuditRow).where(AuditRow.seq == 4).values(seq=3))
        _tamper(settings, update(AuditRow).where(AuditRow.seq == 100).values(seq=4))
    else:  # changed and re-hashed: the next entry's link still gives it away
        from dte.services.audit import entry_hash

        sync = create_sync_engine(settings.effective_database_url)
        with sync.begin() as connection:
            row = connection.execute(select(AuditRow).where(AuditRow.seq == 3)).one()
            forged = AuditRow(**{**row._mapping, "outcome": "failed"})
            connection.execute(update(AuditRow).where(AuditRow.seq == 3).values(outcome="failed",
                                                                                hash=entry_hash(forged)))
        sync.dispose()
    result = engine.get("/api/v1/audit/verify", headers=ADMIN).json()
    assert result["ok"] is False
    assert result["first_bad_seq"] == (4 if tampering == "rehashed" else 3), result
    assert result["entries"] == result["first_bad_seq"] - 1


def test_cli_audit_verify(engine: TestClient, settings: Settings) -> None:
    _seed(engine)
    state._client = client_for(engine, ADMIN_TOKEN)
    try:
        runner = CliRunner()
        ok = runner.invoke(cli, ["audit", "verify"])
        assert ok.exit_code == 0 and "audit chain intact: 6 entries" in ok.output
        listed = runner.invoke(cli, ["audit", "list", "--json"])
        assert listed.exit_code == 0 and "POST /api/v1/projects" in listed.output
        _tamper(settings, update(AuditRow).where(AuditRow.seq == 2).values(resource="/elsewhere"))
        broken = runner.invoke(cli, ["audit", "verify"])
        assert broken.exit_code == 1 and "broken at entry 2" in broken.output
    finally:
        state._client = None
        state.json = False


def test_concurrent_writers_keep_the_chain_linear(database_url: str) -> None:
    """Three engines (separate connection pools) appending at once: no fork, no gap, no duplicate."""
    upgrade(database_url)

    async def run() -> None:
        engines = [create_async(database_url) for _ in range(3)]
        try:
            sessions = [session_factory(e) for e in engines]

            async def writer(n: int) -> None:
                for i in range(8):
                    async with sessions[n % 3]() as session:
                        await AuditService(session).record(actor=f"w{n}", action="test", resource=f"/{n}/{i}",
                                                           outcome="ok", status=200)

            await asyncio.gather(*(writer(n) for n in range(9)))
            async with sessions[0]() as session:
                rows = (await session.scalars(select(AuditRow).order_by(AuditRow.seq))).all()
                assert [r.seq for r in rows] == list(range(1, 73))
                assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
                from dte.services.access import Principal

                verdict = await AuditService(session).verify(Principal("x", "x", platform_admin=True))
                assert verdict.ok and verdict.entries == 72
        finally:
            for e in engines:
                await e.dispose()

    asyncio.run(run())


def test_a_404_that_hides_a_resource_is_a_recorded_denial(engine: TestClient) -> None:
    alpha = engine.post("/api/v1/projects", json={"name": "alpha"}, headers=ADMIN).json()
    engine.post("/api/v1/users", json={"username": "nick"}, headers=ADMIN)
    nick = {"Authorization": "Bearer " + engine.post("/api/v1/users/nick/tokens", json={"name": "t"},
                                                    headers=ADMIN).json()["secret"]}
    hidden = engine.get("/api/v1/projects/alpha", headers=nick)
    missing = engine.get("/api/v1/projects/no-such-project", headers=nick)
    assert hidden.status_code == missing.status_code == 404  # the caller cannot tell them apart...
    assert hidden.json()["detail"].replace("alpha", "X") == missing.json()["detail"].replace("no-such-project", "X")
    denied = entries(engine, outcome="denied")
    assert [(e["actor"], e["resource"], e["project_id"]) for e in denied] == [
        ("nick", "/api/v1/projects/alpha", alpha["id"])]  # ...but the audit log can
