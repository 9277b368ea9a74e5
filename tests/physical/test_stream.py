"""Live streams: SSE and WebSocket push observations and state changes as they commit, and a
reconnect with Last-Event-ID resumes without gaps or repeats."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ADMIN_TOKEN

from dte.client import Client


class SseReader:
    """Reads an SSE stream in a thread; ``events`` receives (id, event, data) tuples."""

    def __init__(self, url: str, token: str, last_event_id: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.events: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.ready.wait(15), "the stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=60)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                self.ready.set()
                if self._stop:
                    return
                if not line:
                    if "data" in fields:
                        self.events.put((fields["id"], fields["event"], json.loads(fields["data"])))
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value

    def take(self, count: int) -> list[tuple[str, str, dict[str, Any]]]:
        return [self.events.get(timeout=20) for _ in range(count)]

    def close(self) -> None:
        self._stop = True


def _setup(url: str, room_app: Path) -> tuple[Client, Client, str]:
    admin = Client(url, ADMIN_TOKEN)
    admin.project_create("lab")
    admin.app_publish("lab", room_app)
    twin_id = admin.twin_create("lab", "room-1", "room").id
    device = Client(url, admin.device_create(twin_id, "sensor-1").secret)
    return admin, device, twin_id


def test_sse_pushes_commits_and_resumes_without_gaps(live: str, room_app: Path) -> None:
    admin, device, twin_id = _setup(live, room_app)
    stream_url = f"{live}/api/v1/twins/{twin_id}/stream"
    reader = SseReader(stream_url, ADMIN_TOKEN)
    device.observations_post(twin_id, [{"n": "temperature", "v": 20 + i} for i in range(3)])
    first = reader.take(4)
    reader.close()
    assert [e[1] for e in first] == ["observation"] * 3 + ["state"]
    assert [e[2]["value"] for e in first[:3]] == [20, 21, 22]
    assert first[3][2]["reported"]["temperature"]["value"] == 22
    last_seen = first[-1][0]

    # While nobody listens: two observations (one revision) and a desired-state change.
    device.observations_post(twin_id, [{"n": "heater", "v": 5}, {"n": "heater", "v": 6}])
    admin.twin_set_state(twin_id, "desired", {"setpoint": 22})
    resumed = SseReader(stream_url, ADMIN_TOKEN, last_event_id=last_seen).take(4)
    assert [(e[1], e[2].get("value", e[2].get("change"))) for e in resumed] == [
        ("observation", 5), ("observation", 6), ("state", "reported"), ("state", "desired")]
    ids = [e[2]["id"] for e in first[:3] + resumed[:2]]
    assert ids == sorted(set(ids)) and len(ids) == 5  # every observation once, in commit order
    revisions = [e[2]["revision"] for e in first[3:] + resumed[2:]]
    assert revisions == list(range(revisions[0], revisions[0] + 3))


def test_websocket_feed_and_stream_access(live: str, room_app: Path) -> None:
    from websockets.sync.client import connect

    admin, device, twin_id = _setup(live, room_app)
    ws_url = live.replace("http://", "ws://") + f"/api/v1/twins/{twin_id}/ws?after=0.0"
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as ws:
        first = json.loads(ws.recv(timeout=20))
        assert first["event"] == "state" and first["data"]["change"] == "created"  # from the start: after=0.0
        device.observations_post(twin_id, {"channel": "door", "v": True})
        received = [json.loads(ws.recv(timeout=20)) for _ in range(2)]
    assert [(m["event"], m["data"].get("value")) for m in received] == [("observation", True), ("state", None)]

    assert httpx.get(f"{live}/api/v1/twins/{twin_id}/stream").status_code == 401
    admin.user_create("eve")
    eve = admin.token_create("eve", ["read"], username="eve").secret
    assert httpx.get(f"{live}/api/v1/twins/{twin_id}/stream",
                     headers={"Authorization": f"Bearer {eve}"}).status_code == 404
    bad = httpx.get(f"{live}/api/v1/twins/{twin_id}/stream",
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Last-Event-ID": "nonsense"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_event_id"
    with pytest.raises(Exception):
        with connect(ws_url):  # no credential: refused before the WebSocket opens
            pass
