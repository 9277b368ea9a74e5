"""Triggers start runs: cron schedules (time-zone aware, fired once across engines) and events."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from helpers import ADMIN_TOKEN, client_for, lab
from sqlalchemy import create_engine, update
from starlette.testclient import TestClient

from dte.adapters.db.engine import driver_url
from dte.adapters.db.tables import TriggerStateRow
from dte.client import Client
from dte.domain.manifest import Trigger
from dte.services.triggers import next_due

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _wait_for_runs(client: Client, twin: str, count: int, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while True:
        runs = client.run_list(twin=twin).items
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def test_cron_times_follow_the_time_zone_across_daylight_saving() -> None:
    trigger = Trigger.model_validate({"workflow": "w", "schedule": {"cron": "30 2 * * *", "timezone": "Europe/Rome"}})
    # 2026-03-29: clocks in Rome jump from 02:00 to 03:00; 02:30 does not exist, so it fires at 03:00 CEST.
    assert next_due(trigger, datetime(2026, 3, 28, 12, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # 2026-10-25: 02:30 happens twice; it fires once, at the first (CEST).
    assert next_due(trigger, datetime(2026, 10, 24, 12, 0, tzinfo=UTC)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert next_due(trigger, summer) == datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 02:30 CEST = 00:30 UTC
    winter = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert next_due(trigger, winter) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 02:30 CET = 01:30 UTC


@pytest.mark.parametrize("bad", [{"cron": "61 * * * *"}, {"cron": "* * * *"}, {"cron": "@hourly x"},
                                 {"cron": "0 * * * *", "timezone": "Mars/Olympus"}])
def test_bad_schedules_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        Trigger.model_validate({"workflow": "w", "schedule": bad})


def test_a_due_schedule_starts_one_run(sqlite_engine: TestClient, tmp_path) -> None:
    client = client_for(sqlite_engine, ADMIN_TOKEN)
    twin = lab(client)
    deadline = time.monotonic() + 20
    while not (info := {t["name"]: t for t in sqlite_engine.get(f"/api/v1/twins/{twin}/triggers", headers=AUTH)
                        .json()})["hourly"]["next_due_at"]:
        assert time.monotonic() < deadline, "the scheduler never planned the trigger"
        time.sleep(0.2)
    due = datetime.fromisoformat(info["hourly"]["next_due_at"])
    assert due > datetime.now(UTC) and due.minute == 0
    # Let an hour pass: move the due time into the past, as the clock would.
    database = create_engine(driver_url(f"sqlite:///{tmp_path / 'dte.sqlite3'}", asynchronous=False))
    with database.begin() as connection:
        connection.execute(update(TriggerStateRow).where(TriggerStateRow.twin_id == twin)
                           .values(next_due_at=datetime.now(UTC) - timedelta(seconds=1)))
    database.dispose()
    runs = _wait_for_runs(client, twin, 1)
    assert len(runs) == 1 and runs[0].trigger.kind == "schedule" and runs[0].trigger.name == "hourly"
    assert runs[0].created_by == "dte-trigger"
    assert client.run_wait(runs[0].id).status == "succeeded"
    time.sleep(6)  # more than one scheduler tick: the claimed firing does not repeat
    assert len(client.run_list(twin=twin).items) == 1
    after = {t["name"]: t for t in sqlite_engine.get(f"/api/v1/twins/{twin}/triggers", headers=AUTH).json()}
    assert datetime.fromisoformat(after["hourly"]["next_due_at"]) > datetime.now(UTC)
    assert after["hourly"]["last_run_id"] == runs[0].id


def test_observations_trigger_a_run_every_n(sqlite_engine: TestClient) -> None:
    client = client_for(sqlite_engine, ADMIN_TOKEN)
    twin = lab(client)

    def observe(*values: float) -> None:
        answer = sqlite_engine.post(f"/api/v1/twins/{twin}/observations", headers=AUTH,
                                    json=[{"n": "level", "u": "m", "v": v} for v in values])
        assert answer.status_code == 202, answer.text

    observe(1.0, 2.0)
    time.sleep(1)
    assert client.run_list(twin=twin).items == []  # 2 of 3
    observe(4.5)
    runs = _wait_for_runs(client, twin, 1)
    assert len(runs) == 1 and runs[0].trigger.kind == "event" and runs[0].trigger.name == "every-3-levels"
    assert runs[0].trigger.context["event"] == "observations.received"
    done = client.run_wait(runs[0].id)
    assert done.status == "succeeded" and client.run_output(done.id, "result") == 9.0  # latest level, doubled
    info = {t["name"]: t for t in sqlite_engine.get(f"/api/v1/twins/{twin}/triggers", headers=AUTH).json()}
    assert info["every-3-levels"]["pending"] == 0 and info["every-3-levels"]["last_run_id"] == done.id


def test_paused_twins_are_not_triggered(sqlite_engine: TestClient) -> None:
    client = client_for(sqlite_engine, ADMIN_TOKEN)
    twin = lab(client)
    client.twin_update(twin, {"status": "paused"})
    answer = sqlite_engine.post(f"/api/v1/twins/{twin}/observations", headers=AUTH,
                                json=[{"n": "level", "u": "m", "v": v} for v in (1.0, 2.0, 3.0)])
    assert answer.status_code == 202
    time.sleep(1.5)
    assert client.run_list(twin=twin).items == []


def test_two_engines_fire_a_due_schedule_once(tmp_path, dask_scheduler: str) -> None:
    """Two engines on one database both see the due schedule; the claim lets only one start the run."""
    from dte.api.app import create_app
    from dte.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'dte.sqlite3'}",
                        admin_token=ADMIN_TOKEN, compute_autostart=False, mqtt_embedded=False,
                        dask_scheduler=dask_scheduler)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        client = client_for(first, ADMIN_TOKEN)
        twin = lab(client)
        deadline = time.monotonic() + 20
        while not {t["name"]: t for t in first.get(f"/api/v1/twins/{twin}/triggers", headers=AUTH).json()}[
                "hourly"]["next_due_at"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        database = create_engine(driver_url(settings.effective_database_url, asynchronous=False))
        for _ in range(3):  # three due times in a row, each seen by both engines
            with database.begin() as connection:
                connection.execute(update(TriggerStateRow).where(TriggerStateRow.twin_id == twin)
                                   .values(next_due_at=datetime.now(UTC) - timedelta(seconds=1)))
            time.sleep(6)  # more than a scheduler tick of either engine
        database.dispose()
        runs = client_for(second, ADMIN_TOKEN).run_list(twin=twin).items
        assert len(runs) == 3 and {r.trigger.kind for r in runs} == {"schedule"}


def test_only_observations_of_the_trigger_channels_count() -> None:
    from dte.domain.events import Event, EventType
    from dte.services.triggers import counted

    trigger = Trigger.model_validate({"workflow": "w", "event": {"type": "observations.received",
                                                                 "channels": ["level"], "count": 3}})
    mixed = Event(type=EventType.OBSERVATIONS, project_id="p", twin_id="t",
                  data={"count": 5, "channels": ["level", "rain"], "counts": {"level": 2, "rain": 3}})
    assert counted(trigger, mixed) == 2
    other = Event(type=EventType.RULE_MATCHED, project_id="p", twin_id="t", data={"rule": "flood"})
    assert counted(trigger, other) == 0
    rule = Trigger.model_validate({"workflow": "w", "event": {"type": "rule.matched", "match": {"rule": "flood"}}})
    assert counted(rule, other) == 1
    assert counted(rule, other.model_copy(update={"data": {"rule": "drought"}})) == 0
