"""The README tour through the SDK: project, publish, twin, state, state as of a time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from dte.client import Client


def test_publish_twin_state_as_of(admin: Client, app_dir: Path, tmp_path: Path) -> None:
    admin.project_create("lab", "Lab")
    published = admin.app_publish("lab", app_dir)
    assert published.created and published.version.version == "1.0.0"
    assert len(published.version.bundle_sha256) == 64

    twin = admin.twin_create("lab", "room-1", "thermo", parameters={"room": "R1"})
    assert twin.parameters == {"room": "R1", "setpoint": 21}
    assert twin.status == "created" and twin.revision == 1

    first = admin.twin_set_state(twin.id, "desired", {"setpoint": 20}, revision=1)
    assert first.revision == 2 and first.desired == {"setpoint": 20}
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    second = admin.twin_set_state(twin.id, "desired", {"setpoint": 23}, merge=True, revision=2)
    assert second.revision == 3

    assert admin.twin_state(twin.id).desired == {"setpoint": 23}
    then = admin.twin_state(twin.id, as_of=between)
    assert then.revision == 2 and then.desired == {"setpoint": 20}

    pulled = admin.app_pull("thermo", "1.0.0", tmp_path / "pulled")
    assert sorted(p.name for p in pulled) == ["dte-app.yaml", "thermo.py"]
