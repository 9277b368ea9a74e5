"""The documented external-broker set-up, for real: a private Mosquitto with a password file and an
ACL authenticates the engine and the devices, and keeps each device to its own twin's topics."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import aiomqtt
import pytest
from helpers import ADMIN_TOKEN, client_for, free_port, unavailable
from mqtt_helpers import publish, wait_for
from pydantic import SecretStr
from starlette.testclient import TestClient

from dte.api.app import create_app
from dte.settings import Settings

ENGINE_PASSWORD = "engine-password-for-this-test"


def _broker(directory: Path, port: int) -> subprocess.Popen[bytes]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        unavailable("mosquitto and mosquitto_passwd are not installed")
    (directory / "mosquitto.conf").write_text(
        # 'user': when started as root, Mosquitto would otherwise switch to a user that cannot read here
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {directory / 'passwd'}\n"
        f"acl_file {directory / 'acl'}\npersistence false\n")
    (directory / "acl").write_text("user dte-engine\ntopic read dte/#\ntopic write dte/+/+/commands/+\n")
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(directory / "passwd"), "dte-engine", ENGINE_PASSWORD],
                   check=True, capture_output=True)
    os.chmod(directory / "passwd", 0o600)
    process = subprocess.Popen(["mosquitto", "-c", str(directory / "mosquitto.conf")],
                               stdout=(directory / "broker.log").open("w"), stderr=subprocess.STDOUT)
    time.sleep(0.5)
    return process


@pytest.mark.e2e
def test_broker_authenticates_devices_and_limits_them_to_their_twin(settings: Settings, room_app: Path,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    broker = _broker(tmp_path, port)
    try:
        settings = settings.model_copy(update={
            "mqtt_url": SecretStr(f"mqtt://dte-engine:{ENGINE_PASSWORD}@127.0.0.1:{port}"),
            "mqtt_client_id": "dte-engine-external-test"})
        with TestClient(create_app(settings)) as engine:
            admin = client_for(engine, ADMIN_TOKEN)
            admin.project_create("lab")
            admin.app_publish("lab", room_app)
            mine = admin.twin_create("lab", "room-1", "room").id
            admin.twin_create("lab", "room-2", "room")
            device = admin.device_create(mine, "sensor-1")
            # What the operator guide tells the operator to add for a device; then reload Mosquitto.
            subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), device.id, device.secret],
                           check=True, capture_output=True)
            with (tmp_path / "acl").open("a") as acl:
                acl.write(f"user {device.id}\ntopic write dte/lab/room-1/#\n"
                          f"topic read dte/lab/room-1/commands/sensor-1\n")
            broker.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            wait_for(engine.app.state.physical.parts["mqtt"].connected.is_set, "the engine's MQTT connection")

            publish([("dte/lab/room-1/temperature", {"device": "sensor-1", "v": 21.5, "seq": 1}),
                     ("dte/lab/room-2/temperature", {"device": "sensor-1", "v": 99.0, "seq": 2})],  # not its twin
                    port=port, username=device.id, password=device.secret)
            wait_for(lambda: admin.observations(mine).items, "the device's observation")
            room2 = admin.twin_find("lab/room-2").id
            time.sleep(1)
            assert [o.value for o in admin.observations(mine).items] == [21.5]
            assert admin.observations(room2).items == []  # the broker's ACL dropped it

            with pytest.raises(aiomqtt.MqttError):  # a wrong secret does not even connect
                publish([("dte/lab/room-1/temperature", {"v": 1})], port=port, username=device.id,
                        password="not-the-secret")
    finally:
        broker.terminate()
        broker.wait(timeout=10)
