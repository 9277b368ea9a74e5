"""The hydrology module's end-to-end tests run on the session's real Dask cluster (``dask_scheduler``
in the root conftest), like the workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ADMIN_TOKEN

from dte.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str, dask_scheduler: str) -> Settings:
    """The engine of the root conftest (SQLite and PostgreSQL), computing on the test cluster."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, admin_token=ADMIN_TOKEN,
                    max_body_bytes=1024 * 1024, compute_autostart=False, mqtt_embedded=False,
                    dask_scheduler=dask_scheduler)
