"""Workflow tests run on the session's real Dask cluster (``dask_scheduler`` in the root conftest);
the engine connects to it as to any external scheduler."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ADMIN_TOKEN, client_for, lab
from starlette.testclient import TestClient

from dte.client import Client
from dte.settings import Settings

BIN = Path(sys.executable).parent


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


@pytest.fixture
def wf(sqlite_engine: TestClient) -> tuple[Client, str]:
    client = client_for(sqlite_engine, ADMIN_TOKEN)
    return client, lab(client)
