"""HTTP ingest: devices and their credentials, SenML and simple records, per-record validation,
idempotency, reported state as one revision per batch, events after commit, history queries."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Room
from helpers import client_for
from starlette.testclient import TestClient

from dte.client import ApiError, Client
from dte.domain.events import EventType

T0 = 1_780_000_000  # 2026-05-28, in SenML's absolute range


def _error(call, *args, **kwargs) -> ApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_device_secret_is_shown_once(admin: Client, room: Room) -> None:
    devices = admin.device_list(room.twin_id)
    assert [d.name for d in devices] == ["sensor-1"]
    assert "secret" not in devices[0].model_dump()
    assert room.secret.startswith("dte_dev_")
    assert _error(admin.device_create, room.twin_id, "sensor-1").code == "device_exists"
    bad = _error(admin.device_create, room.twin_id, "sensor-2", ["pressure"])
    assert bad.status == 422 and bad.errors[0]["pointer"] == "/channels/0"


def test_senml_batch_updates_state_once(admin: Client, room: Room) -> None:
    before = admin.twin_state(room.twin_id).revision
    pack = [{"bn": "", "bt": T0, "n": "temperature", "u": "Cel", "v": 20.5, "seq": 1},
            {"n": "temperature", "t": 10, "v": 21.0, "seq": 2},
            {"n": "heater", "u": "%", "t": 10, "v": 40, "seq": 3},
            {"n": "door", "vb": True, "seq": 4},
            {"n": "status", "vs": "ok", "seq": 5}]
    result = room.device.observations_post(room.twin_id, pack, senml=True)
    assert (result.accepted, result.duplicates, result.rejected) == (5, 0, 0)
    state = admin.twin_state(room.twin_id)
    assert state.revision == before + 1 == result.revision
    assert state.change == "reported" and state.changed_by == "device:sensor-1"
    assert state.reported["temperature"]["value"] == 21.0
    assert state.reported["temperature"]["time"] == datetime.fromtimestamp(T0 + 10, UTC).isoformat()
    assert state.reported["door"]["value"] is True and state.reported["status"]["value"] == "ok"

    history = admin.observations(room.twin_id, channel="temperature")
    assert [(o.value, o.seq) for o in history.items] == [(20.5, 1), (21.0, 2)]
    assert admin.device_list(room.twin_id)[0].last_seen_at is not None


def test_simple_form_and_resend_are_idempotent(admin: Client, room: Room) -> None:
    records = {"observations": [{"channel": "temperature", "t": "2026-05-28T08:00:00Z", "v": 19, "seq": 7},
                                {"channel": "temperature", "t": "2026-05-28T08:00:01Z", "v": 19.5, "seq": 8}]}
    first = room.device.observations_post(room.twin_id, records, source="probe-a")
    again = room.device.observations_post(room.twin_id, records, source="probe-a")
    assert (first.accepted, again.accepted, again.duplicates) == (2, 0, 2)
    other = room.device.observations_post(room.twin_id, records, source="probe-b")  # another sensor's seq space
    assert other.accepted == 2
    assert len(admin.observations(room.twin_id).items) == 4
    assert again.revision is None  # nothing new: no new revision


def test_bad_records_are_rejected_good_ones_stored(admin: Client, room: Room) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    records = [
        {"n": "temperature", "t": T0, "v": 20.0},            # good
        {"n": "pressure", "t": T0, "v": 1013},               # unknown channel
        {"n": "temperature", "u": "K", "t": T0, "v": 293},   # wrong unit
        {"n": "temperature", "t": future, "v": 20.0},        # far in the future
        {"n": "temperature", "t": T0, "vs": "warm"},         # wrong kind
        {"n": "temperature", "t": T0},                       # no value
        "not a record",
        {"n": "heater", "t": T0, "v": 10, "seq": -1},        # bad seq
    ]
    result = room.device.observations_post(room.twin_id, records)
    assert (result.accepted, result.rejected) == (1, 7)
    reasons = {e["pointer"]: e["detail"] for e in result.errors}
    assert "unknown channel 'pressure'" in reasons["/1"]
    assert "wrong unit 'K'" in reasons["/2"]
    assert "future" in reasons["/3"]
    assert "/seq" in " ".join(reasons) or any("seq" in d for d in reasons.values())
    assert [o.value for o in admin.observations(room.twin_id).items] == [20.0]


def test_all_bad_changes_nothing(admin: Client, room: Room) -> None:
    before = admin.twin_state(room.twin_id).revision
    bad = _error(room.device.observations_post, room.twin_id, [{"n": "pressure", "v": 1}])
    assert bad.status == 422 and bad.code == "invalid_observations" and bad.errors[0]["pointer"] == "/0"
    assert _error(room.device.observations_post, room.twin_id, 42).status == 422
    assert admin.twin_state(room.twin_id).revision == before
    assert admin.observations(room.twin_id).items == []


def test_device_may_publish_only_to_its_own_twin_and_channels(engine: TestClient, admin: Client, room: Room) -> None:
    other = admin.twin_create("lab", "room-2", "room")
    assert _error(room.device.observations_post, other.id, [{"n": "temperature", "v": 1}]).status == 403
    limited = client_for(engine, admin.device_create(room.twin_id, "heater-meter", ["heater"]).secret)
    result = limited.observations_post(room.twin_id, [{"n": "heater", "v": 5}, {"n": "temperature", "v": 1}])
    assert (result.accepted, result.rejected) == (1, 1)
    admin.device_revoke(room.twin_id, "sensor-1")
    assert _error(room.device.observations_post, room.twin_id, [{"n": "heater", "v": 5}]).status == 401


def test_user_tokens_need_write_access(engine: TestClient, admin: Client, room: Room) -> None:
    assert admin.observations_post(room.twin_id, {"channel": "heater", "v": 3}).accepted == 1
    reader = client_for(engine, admin.token_create("ro", ["read"]).secret)
    assert _error(reader.observations_post, room.twin_id, {"channel": "heater", "v": 3}).status == 403
    admin.user_create("eve")
    eve = client_for(engine, admin.token_create("eve", ["read", "write"], username="eve").secret)
    assert _error(eve.observations_post, room.twin_id, {"channel": "heater", "v": 3}).status == 404
    assert _error(eve.observations, room.twin_id).status == 404
    assert _error(client_for(engine, None).observations_post, room.twin_id, [{"n": "heater", "v": 3}]).status == 401


def test_events_after_commit(engine: TestClient, admin: Client, room: Room) -> None:
    bus = engine.app.state.runtime.events
    with bus.subscribe([EventType.OBSERVATIONS, EventType.STATE_CHANGED]) as sub:
        room.device.observations_post(room.twin_id, [{"n": "temperature", "v": 20}, {"n": "heater", "v": 1}])
        first = engine.portal.call(asyncio.wait_for, sub.get(), 5)
        second = engine.portal.call(asyncio.wait_for, sub.get(), 5)
    assert first.type == EventType.OBSERVATIONS and first.data["count"] == 2
    assert first.data["channels"] == ["heater", "temperature"] and first.twin_id == room.twin_id
    assert second.type == EventType.STATE_CHANGED and second.data["change"] == "reported"


def test_aggregation_buckets_and_exports(admin: Client, room: Room) -> None:
    values = [(0, 10.0), (20, 20.0), (59, 30.0), (60, 5.0), (130, 7.0)]
    room.device.observations_post(room.twin_id, [{"n": "temperature", "t": T0 - T0 % 60 + dt, "v": v}
                                                 for dt, v in values])
    buckets = admin.observations_aggregate(room.twin_id, 60, channel="temperature")
    assert [(b.count, b.min, b.max, b.mean) for b in buckets] == [(3, 10, 30, 20), (1, 5, 5, 5), (1, 7, 7, 7)]
    assert buckets[1].start == datetime.fromtimestamp(T0 - T0 % 60 + 60, UTC)
    start = datetime.fromtimestamp(T0 - T0 % 60 + 60, UTC)
    assert [b.count for b in admin.observations_aggregate(room.twin_id, 3600, since=start)] == [2]

    csv = admin.observations_export(room.twin_id, "csv").decode().splitlines()
    assert csv[0] == "time,channel,value,source,seq" and len(csv) == 6
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(admin.observations_export(room.twin_id, "parquet", channel="temperature")))
    assert table.column("value").to_pylist() == [v for _, v in values]
    assert _error(admin.observations_aggregate, room.twin_id, 60, channel="nope").code == "unknown_channel"


def test_pages_follow_time_order(admin: Client, room: Room) -> None:
    room.device.observations_post(room.twin_id, [{"n": "heater", "t": T0 + i, "v": i} for i in range(5)][::-1])
    page = admin.observations(room.twin_id, limit=2)
    seen = [o.value for o in page.items]
    while page.next_cursor:
        page = admin.observations(room.twin_id, limit=2, cursor=page.next_cursor)
        seen += [o.value for o in page.items]
    assert seen == [0, 1, 2, 3, 4]
    assert _error(admin.observations, room.twin_id, cursor="x").code == "invalid_cursor"


def test_backpressure_refuses_instead_of_queueing(engine: TestClient, room: Room) -> None:
    """A full write queue refuses at once (HTTP maps it to 429 + Retry-After) or makes the caller wait."""
    from dte.domain.observations import Reading
    from dte.services.devices import twin_context
    from dte.services.ingest import Backpressure, Batch

    runtime = engine.app.state.runtime
    writer = engine.app.state.physical.writer

    async def scenario() -> tuple[bool, int, int]:
        async with runtime.sessions() as session:
            twin = await twin_context(session, room.twin_id)
        assert twin is not None
        readings = [Reading(channel="heater", time_us=T0 * 1_000_000 + i, value=i) for i in range(writer.max_pending)]
        batch = Batch(twin, "test", readings, [], "user:test")
        first = asyncio.ensure_future(writer.submit(batch))
        await asyncio.sleep(0)
        try:
            await writer.submit(Batch(twin, "test", readings[:1], [], "user:test"))
            refused = False
        except Backpressure as exc:
            refused = exc.retry_after >= 1
        waited = await writer.submit(Batch(twin, "test2", readings[:1], [], "user:test"), wait=True)
        return refused, (await first).accepted, waited.accepted

    refused, first, waited = engine.portal.call(scenario)
    assert refused and first > 0 and waited == 1


def test_observations_survive_a_restart(settings, room_app) -> None:  # type: ignore[no-untyped-def]
    """Acknowledged means durable: a new engine on the same database sees every acknowledged record."""
    from helpers import ADMIN_TOKEN

    from dte.api.app import create_app

    with TestClient(create_app(settings)) as first:
        admin = client_for(first, ADMIN_TOKEN)
        admin.project_create("lab")
        admin.app_publish("lab", room_app)
        twin = admin.twin_create("lab", "room-1", "room")
        acked = admin.observations_post(twin.id, [{"n": "heater", "v": i, "seq": i} for i in range(100)])
    with TestClient(create_app(settings)) as second:
        assert len(client_for(second, ADMIN_TOKEN).observations(twin.id).items) == acked.accepted == 100
    time.sleep(0)
