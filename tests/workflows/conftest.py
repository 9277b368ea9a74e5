"""Workflow tests run on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes
started once per test session (the engine connects to it as to any external scheduler)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ADMIN_TOKEN, client_for, free_port
from starlette.testclient import TestClient

from dte.client import Client
from dte.settings import Settings

BIN = Path(sys.executable).parent
WFAPP = Path(__file__).with_name("wfapp")


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from distributed import Client as DaskClient

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    processes = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard"], env=env, stdout=(logs / "scheduler.log").open("w"),
                                  stderr=subprocess.STDOUT)]
    for i in range(2):
        processes.append(subprocess.Popen(
            [str(BIN / "dask"), "worker", address, "--nthreads", "2", "--no-dashboard", "--resources", "CPU=2",
             "--memory-limit", "2GiB", "--name", f"w{i}"], env=env, stdout=(logs / f"worker{i}.log").open("w"),
            stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with DaskClient(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, dask_scheduler: str) -> Settings:
    """The engine of the root conftest, on the test cluster (SQLite and PostgreSQL)."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, admin_token=ADMIN_TOKEN,
                    max_body_bytes=256 * 1024, compute_autostart=False, mqtt_embedded=False, dask_scheduler=dask_scheduler,
                    inline_value_bytes=16 * 1024)


@pytest.fixture
def sqlite_engine(tmp_path: Path, dask_scheduler: str) -> Iterator[TestClient]:
    """The engine on SQLite only, for the many behaviours that do not depend on the database."""
    from dte.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'dte.sqlite3'}",
                        admin_token=ADMIN_TOKEN, compute_autostart=False, mqtt_embedded=False, dask_scheduler=dask_scheduler,
                        inline_value_bytes=16 * 1024)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def lab(client: Client) -> str:
    """Project 'lab' with the workflow test application and an active twin 'lab/wf'; returns the twin id."""
    client.project_create("lab")
    client.app_publish("lab", WFAPP)
    twin = client.twin_create("lab", "wf", "wfapp", parameters={"factor": 3}, status="active")
    return twin.id


@pytest.fixture
def wf(sqlite_engine: TestClient) -> tuple[Client, str]:
    client = client_for(sqlite_engine, ADMIN_TOKEN)
    return client, lab(client)
