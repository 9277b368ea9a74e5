"""Concurrent writers on one twin against a live engine: no lost update, no error, gapless revisions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dte.client import ApiError, Client

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("served", ["sqlite", "postgresql"], indirect=True)]
WRITERS, WRITES = 8, 10


def test_concurrent_merge_patches_all_land(served: dict[str, str]) -> None:
    token = (Path(served["DTE_DATA_DIR"]) / "admin.token").read_text().strip()
    url = served["DTE_URL"]
    with Client(url, token) as admin:
        twin = admin.twin_create("demo", "room-1", "thermostat", parameters={"room": "R1"})

    def writer(n: int) -> int:
        with Client(url, token) as client:
            for i in range(WRITES):
                client.twin_set_state(twin.id, "reported", {f"w{n}_{i}": i}, merge=True)
        return n

    with ThreadPoolExecutor(WRITERS) as pool:
        assert sorted(pool.map(writer, range(WRITERS))) == list(range(WRITERS))

    with Client(url, token) as admin:
        state = admin.twin_state(twin.id)
        assert len(state.reported) == WRITERS * WRITES
        assert state.revision == 1 + WRITERS * WRITES
        history = admin.twin_history(twin.id, limit=500).items
        assert [h.revision for h in history] == list(range(state.revision, 0, -1))


def test_conditional_writers_one_wins(served: dict[str, str]) -> None:
    """Writers that all send If-Match for the same revision: exactly one succeeds, the rest get 412."""
    token = (Path(served["DTE_DATA_DIR"]) / "admin.token").read_text().strip()
    url = served["DTE_URL"]
    with Client(url, token) as admin:
        twin = admin.twin_create("demo", "room-2", "thermostat", parameters={"room": "R2"})

    def attempt(n: int) -> int:
        with Client(url, token) as client:
            try:
                client.twin_set_state(twin.id, "desired", {"setpoint": 10 + n}, revision=1)
                return 200
            except ApiError as exc:
                return exc.status

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(attempt, range(WRITERS)))
    assert sorted(statuses) == [200] + [412] * (WRITERS - 1)
    with Client(url, token) as admin:
        assert admin.twin_state(twin.id).revision == 2
