"""Signed run manifests catch tampering; runs never stay 'running' after their engine stops or dies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers import ADMIN_TOKEN, client_for, free_port, lab
from sqlalchemy import create_engine, select, update
from starlette.testclient import TestClient

from dte.adapters.db.engine import driver_url
from dte.adapters.db.tables import RunStepRow
from dte.client import Client
from dte.settings import Settings


def _database(tmp_path: Path):  # noqa: ANN202 - a SQLAlchemy engine on the test's SQLite file
    return create_engine(driver_url(f"sqlite:///{tmp_path / 'dte.sqlite3'}", asynchronous=False))


def test_a_modified_record_is_detected(wf: tuple[Client, str], tmp_path: Path) -> None:
    client, twin = wf
    run = client.run_wait(client.run_start(twin, "chain", {"x": 1}).id)
    assert client.run_verify(run.id).valid
    database = _database(tmp_path)
    with database.begin() as connection:
        outputs = connection.execute(select(RunStepRow.outputs).where(
            RunStepRow.run_id == run.id, RunStepRow.name == "first")).scalar_one()
        outputs["result"]["value"] = 1000.0  # a better-looking number, same recorded hash
        connection.execute(update(RunStepRow).where(RunStepRow.run_id == run.id, RunStepRow.name == "first")
                           .values(outputs=outputs))
    database.dispose()
    check = client.run_verify(run.id)
    assert not check.valid and not check.records_match and check.signature_valid
    assert any("/steps/first/outputs/result" in p for p in check.problems), check.problems


def test_a_modified_artifact_is_detected(wf: tuple[Client, str], tmp_path: Path) -> None:
    client, twin = wf
    run = client.run_wait(client.run_start(twin, "big", {"n": 5000}).id)
    sha = run.outputs["values"]["sha256"]
    stored = tmp_path / "data" / "objects" / "sha256" / sha[:2] / sha[2:4] / sha
    stored.write_bytes(stored.read_bytes().replace(b"0.5", b"0.7", 1))
    check = client.run_verify(run.id)
    assert not check.valid and not check.artifacts_intact and check.records_match
    assert any("values" in p or "make.result" in p for p in check.problems), check.problems


def test_runs_in_flight_fail_when_the_engine_stops(tmp_path: Path, dask_scheduler: str) -> None:
    from dte.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'dte.sqlite3'}",
                        admin_token=ADMIN_TOKEN, compute_autostart=False, mqtt_embedded=False,
                        dask_scheduler=dask_scheduler)
    with TestClient(create_app(settings)) as engine:
        client = client_for(engine, ADMIN_TOKEN)
        run = client.run_start(lab(client), "slow")
    with TestClient(create_app(settings)) as engine:
        stopped = client_for(engine, ADMIN_TOKEN).run_get(run.id)
    assert stopped.status == "failed" and "engine stopped" in stopped.error


@pytest.mark.e2e
def test_runs_in_flight_fail_after_their_engine_was_killed(tmp_path: Path, dask_scheduler: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DTE_DATA_DIR": str(tmp_path / "data"), "DTE_PORT": str(port), "DTE_ADMIN_TOKEN": ADMIN_TOKEN,
           "DTE_DASK_SCHEDULER": dask_scheduler, "DTE_RUN_LEASE_SECONDS": "5", "DTE_MQTT_EMBEDDED": "false",
           "DTE_COMPUTE_AUTOSTART": "false"}
    for name in ("DTE_DATABASE_URL", "DTE_BUNDLED_APPS_DIR", "DTE_TOKEN"):
        env.pop(name, None)

    def serve() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([str(Path(sys.executable).with_name("dte")), "serve"], env=env,
                                   stdout=(tmp_path / "serve.log").open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    return process
            except httpx.TransportError:
                time.sleep(0.2)
        process.kill()
        pytest.fail("the engine did not start:\n" + (tmp_path / "serve.log").read_text())

    first = serve()
    with Client(url, ADMIN_TOKEN) as client:
        run = client.run_start(lab(client), "slow")
        while client.run_get(run.id).status != "running":
            time.sleep(0.1)
    first.kill()  # SIGKILL: no chance to clean up
    first.wait()
    second = serve()
    try:
        with Client(url, ADMIN_TOKEN) as client:
            failed = client.run_wait(run.id, timeout=30)
            assert failed.status == "failed" and "lease expired" in failed.error
            assert client.run_verify(run.id).valid  # settled by the new engine, signed with the same key
    finally:
        second.terminate()
        second.wait(timeout=15)
