"""Shared fixtures: an engine per test, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import (
    ADMIN_TOKEN,
    POSTGRES_URL,
    REPO,
    THERMO_MANIFEST,
    client_for,
    free_port,
    unavailable,
)
from starlette.testclient import TestClient

from dte.adapters.db.tables import Base
from dte.client import Client
from dte.settings import Settings


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server for this test session, dropped at the end."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"dte_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        present = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        tables = [t.name for t in Base.metadata.sorted_tables if t.name in present]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dte.sqlite3'}"
    url = request.getfixturevalue("postgres_database")
    _truncate(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, admin_token=ADMIN_TOKEN,
                    max_body_bytes=256 * 1024, compute_autostart=False, mqtt_embedded=False,
                    issuer_enabled=False)  # tests/aai turns the issuer on; elsewhere it only costs start time


@pytest.fixture
def engine(settings: Settings) -> Iterator[TestClient]:
    """The real engine application (lifespan included) behind an in-process HTTP client."""
    from dte.api.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin(engine: TestClient) -> Client:
    return client_for(engine, ADMIN_TOKEN)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A small valid application directory."""
    directory = tmp_path / "thermo"
    directory.mkdir()
    (directory / "dte-app.yaml").write_text(THERMO_MANIFEST)
    (directory / "thermo.py").write_text("def control(t: float) -> float:\n    return 21.0 - t\n")
    return directory




@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A live ``dte serve`` process in embedded mode with the bundled applications.

    Yields the environment for CLI calls (DTE_URL, DTE_DATA_DIR; the token is found by the CLI).
    Parametrize indirectly with "postgresql" to run it on the PostgreSQL server instead of SQLite.
    """
    port = free_port()
    env = {**os.environ, "DTE_DATA_DIR": str(tmp_path / ".dte"), "DTE_PORT": str(port),
           "DTE_URL": f"http://127.0.0.1:{port}", "DTE_BUNDLED_APPS_DIR": str(REPO / "apps"),
           "DTE_MQTT_PORT": str(free_port()),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for name in ("DTE_TOKEN", "DTE_DATABASE_URL", "DTE_OBJECTS_URL", "DTE_ADMIN_TOKEN"):
        env.pop(name, None)
    if getattr(request, "param", "sqlite") == "postgresql":
        env["DTE_DATABASE_URL"] = request.getfixturevalue("postgres_database")
        _truncate(env["DTE_DATABASE_URL"])
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).with_name("dte")), "serve"], env=env, cwd=tmp_path,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the engine did not become ready:\n" + log_path.read_text())
        yield env
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask cluster for the session: a ``dask scheduler`` and two ``dask worker`` processes
    (a worker that dies twice on one task fails it: allowed-failures 1)."""
    from distributed import Client as DaskClient

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    dask = str(Path(sys.executable).with_name("dask"))
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                  env=env, stdout=(logs / "scheduler.log").open("w"), stderr=subprocess.STDOUT)]
    for i in range(2):
        processes.append(subprocess.Popen(
            [dask, "worker", address, "--nthreads", "2", "--no-dashboard", "--resources", "CPU=2",
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
