"""The issue's reliability tests, with real processes: a private Mosquitto (never the shared one),
``dte serve`` and ``dte edge`` stopped, restarted and killed with SIGKILL."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from helpers import ADMIN_TOKEN, REPO, free_port, unavailable
from mqtt_helpers import wait_for

from dte.client import Client

pytestmark = pytest.mark.e2e
DTE = str(Path(sys.executable).with_name("dte"))
T0 = 1_780_000_000


class Proc:
    """A child process with its log; started, stopped (SIGTERM) or killed (SIGKILL) by the test."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name, self.args, self.env, self.cwd = name, args, env, cwd
        self.log = cwd / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("mosquitto") is None:
        unavailable("the mosquitto binary is not installed")
    broker_port, engine_port = free_port(), free_port()
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence true\nuser {getpass.getuser()}\n"
        f"persistence_location {tmp_path}/\nautosave_interval 1\n")
    env = {**os.environ, "DTE_DATA_DIR": str(tmp_path / ".dte"), "DTE_PORT": str(engine_port),
           "DTE_ADMIN_TOKEN": ADMIN_TOKEN, "DTE_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}",
           "DTE_MQTT_CLIENT_ID": f"engine-{engine_port}", "DTE_LOG_JSON": "true"}
    for name in ("DTE_DATABASE_URL", "DTE_TOKEN", "DTE_URL"):
        env.pop(name, None)
    procs = {"broker": Proc("broker", [shutil.which("mosquitto") or "", "-c", str(tmp_path / "mosquitto.conf")],
                            env, tmp_path),
             "engine": Proc("engine", [DTE, "serve"], env, tmp_path)}
    url = f"http://127.0.0.1:{engine_port}"
    yield procs, url, env, broker_port
    for proc in procs.values():
        proc.stop(signal.SIGKILL)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _room(url: str, tmp_path: Path) -> tuple[Client, str]:
    admin = Client(url, ADMIN_TOKEN)
    app = tmp_path / "room"
    app.mkdir(exist_ok=True)
    (app / "dte-app.yaml").write_text((REPO / "tests/physical/conftest.py").read_text().split('"""\\\n')[1]
                                      .split('"""')[0])
    admin.project_create("lab")
    admin.app_publish("lab", app)
    return admin, admin.twin_create("lab", "room-1", "room").id


def test_engine_and_broker_down_gateway_killed_nothing_acknowledged_is_lost(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    procs, url, env, broker_port = world
    procs["broker"].start()
    procs["engine"].start()
    wait_for(lambda: _ready(url), "the engine", 60)
    admin, twin_id = _room(url, tmp_path)
    secret = admin.device_create(twin_id, "gateway").secret
    source_port = free_port()
    (tmp_path / "edge.yaml").write_text(f"""
name: edge-test
engine: {{mqtt_url: "mqtt://127.0.0.1:{broker_port}", twin: {twin_id}, project: lab, twin_name: room-1,
          device: gateway, secret_env: EDGE_SECRET}}
forward: {{via: mqtt, batch: 50, interval: 0.05, backoff_max: 1}}
buffer: {{path: buffer.sqlite3}}
sources: [{{type: http, port: {source_port}}}]
status: {{port: 0}}
""")
    procs["gateway"] = Proc("gateway", [DTE, "edge", "--config", str(tmp_path / "edge.yaml")],
                            {**env, "EDGE_SECRET": secret}, tmp_path)
    procs["gateway"].start()
    acknowledged: list[tuple[str, float, float]] = []
    counter = iter(range(1_000_000))

    def produce(n: int) -> None:
        """The PT pushes n samples per channel; what the gateway answers 202 it has on disk."""
        for _ in range(n):
            i = next(counter)
            batch = [{"channel": c, "t": T0 + i, "v": float(i)} for c in ("temperature", "heater")]
            try:
                if httpx.post(f"http://127.0.0.1:{source_port}/samples", json=batch, timeout=5).status_code == 202:
                    acknowledged.extend((s["channel"], s["t"], s["v"]) for s in batch)
            except httpx.TransportError:
                time.sleep(0.05)

    wait_for(lambda: _up(source_port), "the gateway", 30)
    produce(100)
    procs["engine"].stop()
    procs["broker"].stop()
    produce(100)  # buffered at the edge; forwarding fails and backs off
    procs["broker"].start()
    time.sleep(1)
    producer = threading.Thread(target=produce, args=(100,))
    producer.start()
    time.sleep(0.3)
    procs["gateway"].stop(signal.SIGKILL)  # during forwarding
    producer.join()
    procs["gateway"].start()
    wait_for(lambda: _up(source_port), "the restarted gateway", 30)
    produce(50)
    procs["engine"].start()
    wait_for(lambda: _ready(url), "the restarted engine", 60)

    def stored() -> list[tuple[str, float, float]]:
        rows = []
        for channel in ("temperature", "heater"):
            page = admin.observations(twin_id, channel=channel, limit=10_000)
            rows += [(o.channel, o.time.timestamp(), o.value) for o in page.items]
        return rows

    wait_for(lambda: len(stored()) >= len(acknowledged), "every acknowledged sample in the history", 90)
    time.sleep(1)  # anything extra (a duplicate) would show up now
    history = stored()
    assert len(acknowledged) >= 2 * 250  # what was produced while the gateway was up
    for channel in ("temperature", "heater"):
        produced = [(t, v) for c, t, v in acknowledged if c == channel]
        kept = [(t, v) for c, t, v in history if c == channel]
        assert kept == sorted(set(kept)), "in order, each once"
        assert set(produced) <= set(kept), f"{len(set(produced) - set(kept))} acknowledged samples missing"
        assert len(kept) == len(set(kept))


def _up(port: int) -> bool:
    try:
        return httpx.post(f"http://127.0.0.1:{port}/samples", json=[], timeout=2).status_code == 202
    except httpx.TransportError:
        return False


def test_engine_killed_during_ingest_keeps_every_acknowledged_observation(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    procs, url, _, _ = world
    procs["broker"].start()
    procs["engine"].start()
    wait_for(lambda: _ready(url), "the engine", 60)
    admin, twin_id = _room(url, tmp_path)
    device = Client(url, admin.device_create(twin_id, "sensor").secret)
    acknowledged: list[int] = []
    stop = threading.Event()

    def produce() -> None:
        seq = 0
        while not stop.is_set():
            batch = [{"channel": "heater", "t": T0 + seq + k, "v": k, "seq": seq + k} for k in range(20)]
            try:
                device.observations_post(twin_id, {"observations": batch})
                acknowledged.extend(r["seq"] for r in batch)
            except Exception:
                pass
            seq += 20

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: len(acknowledged) >= 400, "some acknowledged batches")
    procs["engine"].stop(signal.SIGKILL)
    stop.set()
    producer.join()
    procs["engine"].start()
    wait_for(lambda: _ready(url), "the restarted engine", 60)
    stored = {o.seq for o in admin.observations(twin_id, limit=10_000).items}
    assert set(acknowledged) <= stored
