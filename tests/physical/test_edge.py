"""The edge gateway: operators, the bounded durable buffer, and forwarding to a live engine."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import httpx
import pytest
from helpers import ADMIN_TOKEN, free_port
from mqtt_helpers import wait_for

from dte.client import Client
from dte.edge.buffer import Buffer
from dte.edge.config import EdgeConfig, Operator, load_config
from dte.edge.gateway import Gateway
from dte.edge.operators import Pipeline, Sample, compile_expression


def _run(pipeline: Pipeline, samples: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    return [(s.channel, s.t, s.v) for x in samples for s in pipeline(Sample(*x))]  # type: ignore[misc]


def test_operators() -> None:
    ops = [Operator(op="validate", channel="t", min=-40, max=80), Operator(op="dedupe"),
           Operator(op="deadband", channel="t", delta=0.5)]
    assert _run(Pipeline(ops), [("t", 0, 20), ("t", 0, 20), ("t", 1, 20.2), ("t", 2, 21), ("t", 3, 99), ("h", 3, 5)]) \
        == [("t", 0, 20), ("t", 2, 21), ("h", 3, 5)]
    assert _run(Pipeline([Operator(op="convert", **{"from": "degF", "to": "Cel"})]), [("t", 0, 212)]) == [("t", 0, 100)]
    assert _run(Pipeline([Operator(op="rate_limit", seconds=10)]), [("t", 0, 1), ("t", 5, 2), ("t", 10, 3)]) \
        == [("t", 0, 1), ("t", 10, 3)]
    window = Pipeline([Operator(op="window", seconds=60, aggregate="mean")])
    assert _run(window, [("t", 0, 1), ("t", 30, 3), ("t", 61, 10), ("t", 125, 0)]) == [("t", 0, 2), ("t", 60, 10)]
    assert _run(Pipeline([Operator(op="expression", expression="max(v, 0) * 2 + 1")]), [("t", 0, -3), ("t", 1, 2)]) \
        == [("t", 0, 1), ("t", 1, 5)]
    assert compile_expression("abs(v - t)")(1, 3) == 2
    for hostile in ("__import__('os')", "v.__class__", "[v]", "'a' * 9"):
        with pytest.raises(ValueError):
            compile_expression(hostile)
    with pytest.raises(ValueError):
        Operator(op="deadband")


@pytest.mark.parametrize("policy", ["reject_new", "drop_oldest"])
def test_bounded_buffer_counts_its_losses(tmp_path: Path, policy: str) -> None:
    buffer = Buffer(tmp_path / "b.sqlite3", 3, policy)  # type: ignore[arg-type]
    assert buffer.add([Sample("t", i, i) for i in range(5)]) == 3
    kept = [r.v for r in buffer.peek(10)]
    stats = buffer.stats()
    assert stats["depth"] == 3 and stats["received"] == 5
    if policy == "reject_new":
        assert kept == [0, 1, 2] and stats["refused"] == 2
    else:
        assert kept == [2, 3, 4] and stats["dropped"] == 2
    first = buffer.peek(1)
    buffer.remove(first)
    buffer.add([Sample("t", 9, 9)])
    assert max(r.seq for r in buffer.peek(10)) > max(r.seq for r in first)  # sequence numbers never reused
    buffer.close()
    again = Buffer(tmp_path / "b.sqlite3", 3, policy)  # type: ignore[arg-type]
    assert again.stats()["depth"] == 3  # durable
    again.close()


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("engine: {twin: x}\nsources: [{type: carrier-pigeon}]\n")
    with pytest.raises(Exception) as caught:
        load_config(path)
    assert "/sources/0" in str(caught.value)


def test_gateway_forwards_http_source_to_the_engine(live: str, room_app: Path, tmp_path: Path) -> None:
    admin = Client(live, ADMIN_TOKEN)
    admin.project_create("lab")
    admin.app_publish("lab", room_app)
    twin_id = admin.twin_create("lab", "room-1", "room").id
    secret = admin.device_create(twin_id, "gateway").secret
    source_port, status_port = free_port(), free_port()
    config = EdgeConfig.model_validate({
        "engine": {"url": live, "twin": twin_id, "secret": secret},
        "buffer": {"path": str(tmp_path / "buffer.sqlite3")},
        "sources": [{"type": "http", "port": source_port}],
        "operators": [{"op": "convert", "channel": "temperature", "from": "degF", "to": "Cel"},
                      {"op": "validate", "channel": "temperature", "min": -40, "max": 80}],
        "status": {"port": status_port},
        "forward": {"interval": 0.05}})
    gateway = Gateway(config)
    loop = asyncio.new_event_loop()
    task = loop.create_task(gateway.run())

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: _up(f"http://127.0.0.1:{status_port}/status"), "the gateway")
        samples = [{"channel": "temperature", "t": 1_780_000_000 + i, "v": 32 + 18 * i} for i in range(5)]
        samples.append({"channel": "temperature", "t": 1_780_000_010, "v": 1000})  # invalid: out of range
        answer = httpx.post(f"http://127.0.0.1:{source_port}/samples", json=samples)
        assert answer.status_code == 202 and answer.json()["stored"] == 5
        wait_for(lambda: len(admin.observations(twin_id).items) == 5, "the forwarded observations")
        assert [o.value for o in admin.observations(twin_id).items] == [0, 10, 20, 30, 40]
        status = wait_for(lambda: (s := httpx.get(f"http://127.0.0.1:{status_port}/status").json())["sent"] == 5
                          and s, "the gateway's status")
        assert status["depth"] == 0 and status["received"] == 6
        assert "dte_edge_sent 5.0" in httpx.get(f"http://127.0.0.1:{status_port}/metrics").text
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)


def _up(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False
