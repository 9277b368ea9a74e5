"""The gateway's configuration file (``edge.yaml``), validated once at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dte.domain.errors import InvalidInput
from dte.domain.validation import pydantic_errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Engine(_Strict):
    """Where and as whom the gateway forwards: a device of the twin, with its own secret."""

    url: str | None = Field(default=None, description="engine base URL for HTTPS forwarding")
    mqtt_url: str | None = Field(default=None, description="broker URL for MQTT forwarding (user = device id)")
    twin: str = Field(description="twin id (HTTP) ")
    project: str | None = Field(default=None, description="project name (MQTT topics)")
    twin_name: str | None = Field(default=None, description="twin name (MQTT topics)")
    device_id: str | None = Field(default=None, description="device id (MQTT username)")
    device: str | None = Field(default=None, description="device name, sent with MQTT messages")
    secret: str | None = Field(default=None, description="device secret; prefer secret_env")
    secret_env: str | None = Field(default=None, description="environment variable holding the device secret")
    topic: str = "dte/{project}/{twin}/{channel}"

    def device_secret(self) -> str:
        value = os.environ.get(self.secret_env, "") if self.secret_env else (self.secret or "")
        if not value:
            raise InvalidInput("the gateway needs its device secret (engine.secret_env or engine.secret)",
                               code="invalid_config")
        return value


class Forward(_Strict):
    via: Literal["http", "mqtt"] = "http"
    batch: int = Field(default=500, ge=1, le=10_000)
    interval: float = Field(default=0.2, gt=0, description="seconds between forwarding rounds when idle")
    backoff_max: float = Field(default=30, gt=0)
    source: str = Field(default="edge", max_length=100, description="idempotency namespace of the sequence numbers")


class Buffer(_Strict):
    path: Path = Path("edge-buffer.sqlite3")
    max_rows: int = Field(default=1_000_000, ge=1, description="bounded disk: at most this many unsent observations")
    overflow: Literal["reject_new", "drop_oldest"] = "drop_oldest"


class MqttSource(_Strict):
    type: Literal["mqtt"]
    url: str = "mqtt://127.0.0.1:1883"
    topic: str = Field(description="subscription filter, e.g. sensors/+/temperature")
    channel: str | None = Field(default=None, description="channel of every message; default: last topic level")
    client_id: str = "dte-edge"


class HttpSource(_Strict):
    type: Literal["http"]
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)


class FileSource(_Strict):
    type: Literal["file"]
    path: Path = Field(description="CSV with columns time,channel,value (header line), followed like tail -f")
    poll: float = Field(default=0.5, gt=0)


Source = Annotated[MqttSource | HttpSource | FileSource, Field(discriminator="type")]


class Operator(_Strict):
    """One step of the pipeline. ``channel`` limits it to one channel (default: all)."""

    op: Literal["validate", "dedupe", "deadband", "rate_limit", "convert", "window", "expression"]
    channel: str | None = None
    min: float | None = None
    max: float | None = None
    delta: float | None = Field(default=None, ge=0, description="deadband: forward only changes larger than this")
    seconds: float | None = Field(default=None, gt=0, description="rate_limit/window: period")
    aggregate: Literal["mean", "min", "max", "last", "count"] = "mean"
    from_unit: str | None = Field(default=None, alias="from")
    to_unit: str | None = Field(default=None, alias="to")
    expression: str | None = Field(default=None, max_length=500, description="e.g. 'v * 1.8 + 32' (v, t; + - * / ** abs min max round)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _needs(self) -> Operator:
        required = {"deadband": ["delta"], "rate_limit": ["seconds"], "window": ["seconds"],
                    "convert": ["from_unit", "to_unit"], "expression": ["expression"]}.get(self.op, [])
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"operator {self.op} needs {', '.join(m.removesuffix('_unit') for m in missing)}")
        return self


class Status(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9109, ge=0, le=65535, description="Prometheus /metrics and /status; 0: off")


class EdgeConfig(_Strict):
    name: str = Field(default="edge", max_length=63)
    engine: Engine
    forward: Forward = Field(default_factory=Forward)
    buffer: Buffer = Field(default_factory=Buffer)
    sources: list[Source] = Field(default_factory=list)
    operators: list[Operator] = Field(default_factory=list)
    status: Status = Field(default_factory=Status)


def load_config(path: Path) -> EdgeConfig:
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}", code="invalid_config") from None
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"{path} is not a valid gateway configuration", code="invalid_config",
                           errors=pydantic_errors(exc)) from None
    if not config.buffer.path.is_absolute():
        config.buffer.path = path.parent / config.buffer.path
    return config
