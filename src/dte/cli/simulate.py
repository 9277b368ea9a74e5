"""``dte simulate``: run a simulated physical twin against an engine."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from dte.cli.common import state
from dte.cli.output import console
from dte.client import ApiError
from dte.client.config import resolve_url
from dte.settings import Settings


def _wait_for_engine(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise typer.BadParameter(f"the engine at {url} did not become ready")


def simulate(
    twin: Annotated[str, typer.Argument(help="project/name of the twin")] = "demo/thermostat-1",
    via: Annotated[str, typer.Option(help="mqtt or http")] = "mqtt",
    mqtt_url: Annotated[str, typer.Option(help="broker the device publishes to")] = "mqtt://127.0.0.1:1884",
    rate: Annotated[float, typer.Option(help="samples per second")] = 1.0,
    count: Annotated[int | None, typer.Option(help="stop after this many samples")] = None,
    device: Annotated[str, typer.Option(help="device name to register (or reuse from --state)")] = "simulator",
    create: Annotated[bool, typer.Option(help="create the twin from the 'thermostat' app if missing")] = False,
    wait: Annotated[bool, typer.Option(help="wait for the engine to become ready")] = False,
    state_file: Annotated[Path, typer.Option("--state", help="where the device secret is kept between runs")] = Path(
        ".dte/simulator.json"),
) -> None:
    """Publish realistic data for a twin (a heated room) and answer its commands."""
    from dte.simulate import Simulator

    if wait:  # first: on a first start the engine writes the admin token the client then finds
        _wait_for_engine(resolve_url(state.url))
    client = state.client()
    project, _, name = twin.partition("/")
    try:
        found = client.twin_find(twin)
    except ApiError as exc:
        if exc.status != 404 or not create:
            raise
        found = client.twin_create(project, name, "thermostat", parameters={"room": name}, status="active")
    saved = json.loads(state_file.read_text()) if state_file.exists() else {}
    credential = saved.get(found.id)
    if credential is None:
        try:
            registered = client.device_create(found.id, device)
        except ApiError as exc:
            if exc.code != "device_exists":
                raise
            registered = client.device_create(found.id, f"{device}-{secrets.token_hex(3)}")
        credential = {"name": registered.name, "id": registered.id, "secret": registered.secret}
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({**saved, found.id: credential}))
        state_file.chmod(0o600)
    sim = Simulator(project=found.project, twin=found.name, twin_id=found.id, device=credential["name"],
                    device_id=credential["id"], secret=credential["secret"], via=via, engine_url=client.url,
                    mqtt_url=mqtt_url, rate=rate, count=count)
    console.print(f"simulating {found.project}/{found.name} as device {sim.device} via {via} at {rate}/s")
    try:
        asyncio.run(sim.run())
    except KeyboardInterrupt:
        pass
    console.print(f"sent {sim.sent} samples, answered {len(sim.commands)} commands")


def simulate_alongside(settings: Settings) -> subprocess.Popen[bytes]:
    """``dte serve --simulate``: a separate simulator process feeding demo/thermostat-1 over the
    embedded broker once the engine is ready (the demo of ``make run``)."""
    command = [str(Path(sys.executable).with_name("dte")), "--url", f"http://127.0.0.1:{settings.port}", "simulate",
               "--wait", "--create", "--mqtt-url", f"mqtt://127.0.0.1:{settings.mqtt_port}",
               "--state", str(settings.data_dir / "simulator.json"), f"{settings.bundled_apps_project}/thermostat-1"]
    return subprocess.Popen(command)
