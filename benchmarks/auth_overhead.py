"""What authentication and authorization cost: requests/s and p99 latency of an authenticated,
authorized read (``GET /api/v1/projects/{project}``) against the same read on the same engine build
with auth switched off (``DTE_INSECURE_DISABLE_AUTH``, a benchmark-only switch), in one run; and
the personal-access-token read once more with the principal cache off (``DTE_AUTH_CACHE_SECONDS=0``).

Each variant is a real ``dte serve`` (uvicorn) process; both share one SQLite database (the
insecure one starts second, so it reads the project the secured one created). The load comes from one asyncio
client process with N concurrent connections. Variants alternate over several rounds and the
median is reported. Run: ``python -m benchmarks.auth_overhead [--connections 64] [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN_TOKEN = "dte_pat_" + "b" * 43
PROJECT = "bench"
RESULTS = Path(__file__).with_name("results") / "auth_overhead.json"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Engine:
    """One ``dte serve`` process with its own data directory."""

    def __init__(self, root: Path, name: str, extra: dict[str, str], data: str = "data") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DTE_DATA_DIR": str(root / data), "DTE_PORT": str(self.port),
               "DTE_ADMIN_TOKEN": ADMIN_TOKEN, "DTE_ADMIN_PASSWORD": "benchmark admin password",
               "DTE_RATE_LIMIT_PER_MINUTE": "0", "DTE_LOG_LEVEL": "warning",
               # Background parts the read does not use stay off, so both engines are alike and quiet.
               "DTE_MQTT_EMBEDDED": "false", "DTE_COMPUTE_AUTOSTART": "false", **extra}
        for key in ("DTE_DATABASE_URL", "DTE_BUNDLED_APPS_DIR", "DTE_TOKEN"):
            env.pop(key, None)
        self.log = (root / f"{name}.log").open("w")
        self.process = subprocess.Popen([str(Path(sys.executable).with_name("dte")), "serve"], env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} did not start; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


def prepare(engine: Engine) -> dict[str, str]:
    """A project, and the credentials to read it: a personal access token and an issuer JWT."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=engine.url) as http:
        http.post("/api/v1/projects", json={"name": PROJECT}, headers=admin).raise_for_status()
        pat = http.post("/api/v1/tokens", json={"name": "bench", "scopes": ["read"]}, headers=admin).json()["secret"]
        secret = http.post("/api/v1/clients", json={"name": "bench-reader"}, headers=admin).json()["client_secret"]
        http.put(f"/api/v1/projects/{PROJECT}/members/bench-reader", json={"role": "user"},
                 headers=admin).raise_for_status()
        grant = http.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "read"},
                          auth=("bench-reader", secret))
        grant.raise_for_status()
    return {"pat": pat, "jwt": grant.json()["access_token"]}


async def load(url: str, token: str | None, connections: int, seconds: float) -> dict[str, float]:
    """Keep-alive GETs on ``connections`` raw HTTP/1.1 connections (asyncio streams): a load generator
    light enough that the engine, not the client, is what gets measured."""
    host, port = url.removeprefix("http://").split(":")
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET /api/v1/projects/{PROJECT} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()
    latencies: list[float] = []
    errors = 0

    async def connection(stop: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                errors += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    await asyncio.gather(*(connection(time.perf_counter() + 0.5) for _ in range(connections)))  # warm-up
    latencies.clear()
    began = time.perf_counter()
    await asyncio.gather(*(connection(began + seconds) for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000, "requests": len(latencies), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engines: list[Engine] = []
        try:  # every engine started is stopped, even when a later one fails to start
            engines.append(secured := Engine(root, "secured", {}))
            credentials = prepare(secured)
            engines.append(open_engine := Engine(root, "no-auth", {"DTE_INSECURE_DISABLE_AUTH": "true"}))
            engines.append(uncached := Engine(root, "no-cache", {"DTE_AUTH_CACHE_SECONDS": "0"}))
            variants = {"no auth (peer)": (open_engine.url, None),
                        "personal access token": (secured.url, credentials["pat"]),
                        "JWT (embedded issuer)": (secured.url, credentials["jwt"]),
                        "PAT, principal cache off": (uncached.url, credentials["pat"])}
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, (url, token) in variants.items():
                    runs[name].append(asyncio.run(load(url, token, args.connections, args.seconds)))
        finally:
            for engine in engines:
                engine.stop()
    summary = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    peer = summary["no auth (peer)"]["rps"]
    print(f"\nGET /api/v1/projects/{{project}}, {args.connections} connections, {args.seconds:g} s x "
          f"{args.rounds} rounds (median)\n")
    print(f"{'variant':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs peer':>10}{'errors':>8}")
    for name, row in summary.items():
        print(f"{name:<26}{row['rps']:>10.0f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}"
              f"{row['rps'] / peer:>9.2f}x{row['errors']:>8.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "auth_overhead", "connections": args.connections,
                                   "seconds": args.seconds, "rounds": args.rounds, "machine": platform.node(),
                                   "cpus": os.cpu_count(), "summary": summary, "runs": runs}, indent=2))
    print(f"\nresults in {RESULTS}")


if __name__ == "__main__":
    main()
