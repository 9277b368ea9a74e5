"""MQTT ingest against the real Mosquitto on 127.0.0.1:1883, and through the embedded broker."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiomqtt
import pytest
from helpers import ADMIN_TOKEN, client_for, free_port
from mqtt_helpers import publish, require_mosquitto, wait_for
from pydantic import SecretStr
from starlette.testclient import TestClient

from dte.api.app import create_app
from dte.client import Client
from dte.settings import Settings


def _engine_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)


def _setup(engine: TestClient, room_app: Path) -> tuple[Client, str]:
    admin = client_for(engine, ADMIN_TOKEN)
    admin.project_create("lab")
    admin.app_publish("lab", room_app)
    return admin, admin.twin_create("lab", "room-1", "room").id


def _count(admin: Client, twin_id: str) -> int:
    return len(admin.observations(twin_id, limit=10_000).items)


def test_engine_ingests_from_mosquitto_and_survives_its_own_restart(settings: Settings, room_app: Path) -> None:
    require_mosquitto()
    prefix = f"dtetest-{secrets.token_hex(4)}"
    settings = _engine_settings(settings, mqtt_url=SecretStr("mqtt://127.0.0.1:1883"), mqtt_client_id=prefix,
                                mqtt_topic=prefix + "/{project}/{twin}/{channel}")
    topic = f"{prefix}/lab/room-1"
    with TestClient(create_app(settings)) as engine:
        admin, twin_id = _setup(engine, room_app)
        admin.device_create(twin_id, "sensor-1")
        link = engine.app.state.physical.parts["mqtt"]
        wait_for(link.connected.is_set, "the engine's MQTT connection")
        publish([(f"{topic}/temperature", {"device": "sensor-1", "t": 1_780_000_000 + i, "v": 20 + i, "seq": i})
                 for i in range(50)])
        publish([(f"{topic}/temperature", {"device": "sensor-1", "t": 1_780_000_000, "v": 20, "seq": 0}),  # resend
                 (f"{topic}/pressure", {"t": 1_780_000_000, "v": 1}),                                      # no channel
                 (f"{topic}/temperature", b"{not json"),
                 (f"{prefix}/lab/nope/temperature", {"v": 1}),                                             # no twin
                 (f"{topic}/temperature", {"device": "intruder", "v": 1})])                                # no device
        wait_for(lambda: link.stats["acked"] >= 55, "all messages settled")
        assert _count(admin, twin_id) == 50
        assert link.stats["rejected"] == 4
        state = admin.twin_state(twin_id)
        assert state.reported["temperature"]["value"] == 69 and state.changed_by == "device:sensor-1"

    # The engine is down: the broker keeps QoS 1 messages for its persistent session.
    publish([(f"{topic}/heater", {"device": "sensor-1", "v": i, "seq": 1000 + i}) for i in range(10)])
    with TestClient(create_app(settings)) as engine:
        admin = client_for(engine, ADMIN_TOKEN)
        wait_for(lambda: _count(admin, twin_id) == 60, "the messages sent while the engine was down")

    async def forget_session() -> None:  # leave no persistent session behind on the shared broker
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=prefix, clean_session=True):
            pass

    asyncio.run(forget_session())


def test_embedded_broker_authenticates_devices_and_limits_topics(settings: Settings, room_app: Path) -> None:
    port = free_port()
    settings = _engine_settings(settings, mqtt_embedded=True, mqtt_port=port)
    with TestClient(create_app(settings)) as engine:
        admin, twin_id = _setup(engine, room_app)
        other_id = admin.twin_create("lab", "room-2", "room").id
        device = admin.device_create(twin_id, "sensor-1", ["temperature"])
        link = engine.app.state.physical.parts["mqtt"]
        wait_for(link.connected.is_set, "the engine's MQTT connection")

        publish([("dte/lab/room-1/temperature", {"v": 21.5, "seq": 1}),
                 ("dte/lab/room-1/heater", {"v": 50, "seq": 2}),      # channel not allowed: dropped by the broker
                 ("dte/lab/room-2/temperature", {"v": 99, "seq": 3})],  # another twin: dropped by the broker
                port=port, username=device.id, password=device.secret)
        wait_for(lambda: _count(admin, twin_id) == 1, "the device's observation")
        publish([("dte/lab/room-1/temperature", {"v": 22, "seq": 4})], port=port, username=device.id,
                password=device.secret)
        wait_for(lambda: _count(admin, twin_id) == 2, "the second observation")
        assert [o.value for o in admin.observations(twin_id).items] == [21.5, 22]
        assert _count(admin, other_id) == 0

        with pytest.raises(aiomqtt.MqttError):
            publish([("dte/lab/room-1/temperature", {"v": 1})], port=port, username=device.id, password="wrong")
        with pytest.raises(aiomqtt.MqttError):
            publish([("dte/lab/room-1/temperature", {"v": 1})], port=port)  # anonymous
