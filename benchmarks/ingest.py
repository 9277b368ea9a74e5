"""Device ingest: DTE end to end against the raw broker, in one run.

(a) peer: a bare aiomqtt subscriber (QoS 1) draining N QoS 1 messages from Mosquitto;
(b) DTE: the same N messages -> engine subscriber -> durable history and twin state (counted in
    the database); the rate is N over the time from the first publish to the last row committed;
(c) latency at half of DTE's measured rate: publish -> observation visible on the twin's SSE stream;
(d) the HTTP batch path (POST /observations, batches of 500, 4 clients).

Each uses a private Mosquitto (``mosquitto -p <free port>``) and a real ``dte serve`` process on
SQLite (``--postgres URL`` for PostgreSQL). Throughputs are the median of ``--rounds``.
Run: ``python -m benchmarks.ingest [--n 20000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiomqtt
import httpx

logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns about every queued publish

ADMIN_TOKEN = "dte_pat_" + "i" * 43
RESULTS = Path(__file__).with_name("results") / "ingest.json"
MANIFEST = """\
name: bench-room
version: 1.0.0
summary: benchmark room
channels:
  - {name: temperature, unit: Cel}
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def publish(port: int, topic: str, payloads: list[bytes], rate: float | None = None) -> None:
    async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=1000) as client:
        start = time.perf_counter()
        pending = set()
        for i, payload in enumerate(payloads):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.add(asyncio.ensure_future(client.publish(topic, payload, qos=1)))
            if len(pending) >= 100:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)


async def raw_drain(port: int, n: int) -> float:
    """Messages/s of a bare QoS 1 subscriber receiving n messages published at full speed."""
    topic = f"raw/{time.monotonic_ns()}"
    payloads = [json.dumps({"t": 1_780_000_000 + i, "v": i, "seq": i}).encode() for i in range(n)]
    async with aiomqtt.Client("127.0.0.1", port) as sub:
        await sub.subscribe(topic, qos=1)
        start = time.perf_counter()
        publisher = asyncio.create_task(publish(port, topic, payloads))
        received = 0

        async def drain() -> None:
            nonlocal received
            async for _ in sub.messages:
                received += 1
                if received == n:
                    return

        try:
            await asyncio.wait_for(drain(), 120)
        except TimeoutError:
            raise RuntimeError(f"the raw subscriber got only {received} of {n} messages in 120 s") from None
        elapsed = time.perf_counter() - start
        await publisher
    return n / elapsed


class Engine:
    def __init__(self, workdir: Path, broker_port: int, database: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DTE_DATA_DIR": str(workdir / ".dte"), "DTE_PORT": str(self.port),
               "DTE_ADMIN_TOKEN": ADMIN_TOKEN, "DTE_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}",
               "DTE_MQTT_CLIENT_ID": f"bench-{self.port}", "DTE_LOG_LEVEL": "warning",
               "DTE_COMPUTE_AUTOSTART": "false"}
        if database:
            env["DTE_DATABASE_URL"] = database
        self.process = subprocess.Popen([str(Path(sys.executable).with_name("dte")), "serve"], env=env, cwd=workdir,
                                        stdout=subprocess.DEVNULL, stderr=(workdir / "engine.log").open("w"))
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the engine did not start; see engine.log")
        time.sleep(1)  # its MQTT subscription

    def twin(self, workdir: Path, name: str) -> tuple[str, str]:
        app = workdir / "app"
        if not app.exists():
            app.mkdir()
            (app / "dte-app.yaml").write_text(MANIFEST)
            self.http.post("/api/v1/projects", json={"name": "bench"}).raise_for_status()
            from dte.domain.bundle import pack_directory

            self.http.post("/api/v1/applications", params={"project": "bench"}, content=pack_directory(app),
                           headers={"Content-Type": "application/gzip"}).raise_for_status()
        twin = self.http.post("/api/v1/twins", json={"project": "bench", "name": name, "application": "bench-room"})
        twin.raise_for_status()
        twin_id = twin.json()["id"]
        device = self.http.post(f"/api/v1/twins/{twin_id}/devices", json={"name": "sensor"})
        return twin_id, device.json()["secret"]

    def count(self, twin_id: str) -> int:
        buckets = self.http.get(f"/api/v1/twins/{twin_id}/observations/aggregate", params={"bucket": 31_536_000})
        return sum(b["count"] for b in buckets.json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


async def dte_mqtt(engine: Engine, workdir: Path, broker_port: int, n: int, name: str) -> float:
    twin_id, _ = engine.twin(workdir, name)
    payloads = [json.dumps({"device": "sensor", "t": 1_780_000_000 + i / 1000, "v": i, "seq": i}).encode()
                for i in range(n)]
    start = time.perf_counter()
    await publish(broker_port, f"dte/bench/{name}/temperature", payloads)
    deadline = time.monotonic() + 120
    while (stored := await asyncio.to_thread(engine.count, twin_id)) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stored} of {n} messages reached the history in 120 s")
        await asyncio.sleep(0.05)
    return n / (time.perf_counter() - start)


def latency(engine: Engine, workdir: Path, broker_port: int, rate: float, n: int) -> list[float]:
    """Seconds from publish to the observation arriving on the twin's SSE stream."""
    twin_id, _ = engine.twin(workdir, "latency")
    arrived: dict[int, float] = {}
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{engine.url}/api/v1/twins/{twin_id}/stream", timeout=None,
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
            for line in response.iter_lines():
                ready.set()
                if line.startswith("data: ") and '"seq"' in line:
                    arrived[json.loads(line[6:])["seq"]] = time.time()
                    if len(arrived) >= n:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(30)
    sent: dict[int, float] = {}

    async def send() -> None:
        async with aiomqtt.Client("127.0.0.1", broker_port) as client:
            start = time.perf_counter()
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[i] = time.time()
                await client.publish("dte/bench/latency/temperature",
                                     json.dumps({"device": "sensor", "t": sent[i], "v": i, "seq": i}), qos=1)

    asyncio.run(send())
    listener.join(60)
    return sorted(arrived[i] - sent[i] for i in arrived if i in sent)


def http_batches(engine: Engine, workdir: Path, n: int, batch: int = 500, clients: int = 4) -> float:
    twin_id, secret = engine.twin(workdir, f"http-{time.monotonic_ns()}")
    per_client = n // clients

    def post(offset: int) -> None:
        with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as http:
            for start in range(offset, offset + per_client, batch):
                records = [{"channel": "temperature", "t": 1_780_000_000 + i / 1000, "v": i, "seq": i}
                           for i in range(start, min(start + batch, offset + per_client))]
                while http.post(f"/api/v1/twins/{twin_id}/observations", json={"observations": records}
                                ).status_code == 429:
                    time.sleep(0.1)

    started = time.perf_counter()
    threads = [threading.Thread(target=post, args=(k * per_client,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_client * clients / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-n", type=int, default=2_000)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL of an empty database (default: SQLite)")
    args = parser.parse_args()
    mosquitto = shutil.which("mosquitto")
    if mosquitto is None:
        sys.exit("mosquitto is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker_port = free_port()
        conf = workdir / "mosquitto.conf"  # no queue limit: the default (1000) drops messages under load
        conf.write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
        broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        engine = Engine(workdir, broker_port, args.postgres)
        try:
            raw, dte = [], []
            for round_ in range(args.rounds):  # alternate peer and DTE
                raw.append(asyncio.run(raw_drain(broker_port, args.n)))
                dte.append(asyncio.run(dte_mqtt(engine, workdir, broker_port, args.n, f"round-{round_}")))
            raw_rate, dte_rate = statistics.median(raw), statistics.median(dte)
            delays = latency(engine, workdir, broker_port, dte_rate / 2, args.latency_n)
            http_rate = statistics.median(http_batches(engine, workdir, args.n) for _ in range(args.rounds))
        finally:
            engine.stop()
            broker.terminate()
            broker.wait(10)
    result = {
        "n": args.n, "rounds": args.rounds, "database": "postgresql" if args.postgres else "sqlite",
        "raw_broker_drain_per_s": round(raw_rate), "dte_mqtt_end_to_end_per_s": round(dte_rate),
        "ratio": round(dte_rate / raw_rate, 3), "latency_rate_per_s": round(dte_rate / 2),
        "latency_p50_ms": round(percentile(delays, 0.5) * 1000, 1),
        "latency_p99_ms": round(percentile(delays, 0.99) * 1000, 1), "latency_samples": len(delays),
        "http_batch_per_s": round(http_rate), "raw_rounds": [round(r) for r in raw], "dte_rounds": [round(r) for r in dte],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print(f"{'measure':<40}{'value':>14}")
    for key in ("raw_broker_drain_per_s", "dte_mqtt_end_to_end_per_s", "ratio", "latency_rate_per_s",
                "latency_p50_ms", "latency_p99_ms", "http_batch_per_s"):
        print(f"{key:<40}{result[key]:>14}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
