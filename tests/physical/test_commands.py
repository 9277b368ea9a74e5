"""Commands to the physical twin: from a desired-state change or a declared command, through
pending -> delivered -> applied | failed | expired, acknowledged over HTTP or MQTT."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path

import aiomqtt
import pytest
from conftest import Room
from helpers import ADMIN_TOKEN, client_for
from mqtt_helpers import require_mosquitto, wait_for
from pydantic import SecretStr
from starlette.testclient import TestClient

from dte.api.app import create_app
from dte.client import ApiError, Client
from dte.settings import Settings


def test_desired_change_queues_a_command_acknowledged_over_http(admin: Client, room: Room) -> None:
    admin.twin_set_state(room.twin_id, "desired", {"setpoint": 21})
    [command] = admin.command_list(room.twin_id)
    assert (command.name, command.arguments, command.status) == ("desired", {"setpoint": 21}, "pending")

    assert room.device.command_ack(room.twin_id, command.id, "delivered").status == "delivered"
    done = room.device.command_ack(room.twin_id, command.id, "applied", "set-point now 21")
    assert done.status == "applied" and done.completed_at is not None and done.detail == "set-point now 21"
    with pytest.raises(ApiError) as caught:
        room.device.command_ack(room.twin_id, command.id, "failed")
    assert caught.value.code == "invalid_command_transition"

    admin.twin_set_state(room.twin_id, "desired", {"setpoint": 22})
    admin.twin_set_state(room.twin_id, "desired", {"setpoint": 23})
    statuses = {c.arguments["setpoint"]: (c.status, c.detail) for c in admin.command_list(room.twin_id)}
    assert statuses[22] == ("failed", "superseded") and statuses[23][0] == "pending"


def test_declared_command_expires_and_only_its_device_may_ack(engine: TestClient, admin: Client, room: Room) -> None:
    other = client_for(engine, admin.device_create(room.twin_id, "sensor-2").secret)
    commands = admin.command_send(room.twin_id, "calibrate", {"offset": 0.5}, device="sensor-1", ttl_seconds=0.3)
    assert len(commands) == 1
    with pytest.raises(ApiError) as caught:
        other.command_ack(room.twin_id, commands[0].id, "applied")
    assert caught.value.code == "wrong_device"
    wait_for(lambda: admin.command_list(room.twin_id, "expired"), "the command to expire")
    with pytest.raises(ApiError) as caught:
        room.device.command_ack(room.twin_id, commands[0].id, "applied")
    assert caught.value.status == 409
    with pytest.raises(ApiError) as caught:
        admin.command_send(room.twin_id, "calibrate", device="nope")
    assert caught.value.status == 422 and caught.value.errors[0]["pointer"] == "/device"


def test_commands_reach_the_device_over_mosquitto_and_wait_while_it_is_offline(settings: Settings,
                                                                              room_app: Path) -> None:
    require_mosquitto()
    prefix = f"dtetest-{secrets.token_hex(4)}"
    settings = settings.model_copy(update={
        "mqtt_url": SecretStr("mqtt://127.0.0.1:1883"), "mqtt_client_id": prefix,
        "mqtt_topic": prefix + "/{project}/{twin}/{channel}",
        "mqtt_command_topic": prefix + "/{project}/{twin}/commands/{device}"})
    with TestClient(create_app(settings)) as engine:
        admin = client_for(engine, ADMIN_TOKEN)
        admin.project_create("lab")
        admin.app_publish("lab", room_app)
        twin_id = admin.twin_create("lab", "room-1", "room").id
        admin.device_create(twin_id, "sensor-1")
        wait_for(engine.app.state.physical.parts["mqtt"].connected.is_set, "the engine's MQTT connection")
        admin.twin_set_state(twin_id, "desired", {"setpoint": 19})  # the device is offline: stays pending
        time.sleep(0.5)
        assert admin.command_list(twin_id)[0].status == "pending"

        topic = f"{prefix}/lab/room-1/commands/sensor-1"

        async def device() -> dict:
            async with aiomqtt.Client("127.0.0.1", 1883) as client:
                await client.subscribe(topic, qos=1)
                async with asyncio.timeout(20):
                    async for message in client.messages:
                        command = json.loads(message.payload)
                        for status in ("delivered", "applied"):
                            await client.publish(topic + "/ack", json.dumps({"id": command["id"], "status": status}),
                                                 qos=1)
                        return command
            raise AssertionError("no command")

        received = asyncio.run(device())
        assert received["name"] == "desired" and received["arguments"] == {"setpoint": 19}
        wait_for(lambda: admin.command_list(twin_id)[0].status == "applied", "the device's acknowledgement")

    async def forget_session() -> None:
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=prefix, clean_session=True):
            pass

    asyncio.run(forget_session())
