"""SDK calls for the physical twin: devices, observations, history, commands."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

from dte.client.calls import Call, model, raw
from dte.domain.common import Page
from dte.domain.devices import Command, Device, DeviceSecret
from dte.domain.observations import Bucket, IngestResult, Observation

T = TypeVar("T")


def device_create(twin_id: str, name: str, channels: list[str] | None = None, description: str = "") -> Call[DeviceSecret]:
    body = {"name": name, "channels": channels or [], "description": description}
    return Call("POST", f"/api/v1/twins/{twin_id}/devices", model(DeviceSecret), json=body)


def device_list(twin_id: str) -> Call[list[Device]]:
    return Call("GET", f"/api/v1/twins/{twin_id}/devices", model(list[Device]))


def device_revoke(twin_id: str, name: str) -> Call[Device]:
    return Call("DELETE", f"/api/v1/twins/{twin_id}/devices/{name}", model(Device))


def observations_post(twin_id: str, document: Any, source: str | None = None,
                      senml: bool = False) -> Call[IngestResult]:
    media = "application/senml+json" if senml else "application/json"
    return Call("POST", f"/api/v1/twins/{twin_id}/observations", model(IngestResult), params={"source": source},
                content=json.dumps(document).encode(), headers={"Content-Type": media})


def _range(channel: str | None, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    return {"channel": channel, "since": since, "until": until}


def observations(twin_id: str, channel: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, cursor: str | None = None, limit: int = 1000) -> Call[Page[Observation]]:
    params = {**_range(channel, since, until), "cursor": cursor, "limit": limit}
    return Call("GET", f"/api/v1/twins/{twin_id}/observations", model(Page[Observation]), params=params)


def observations_aggregate(twin_id: str, bucket: float, channel: str | None = None, since: datetime | None = None,
                           until: datetime | None = None) -> Call[list[Bucket]]:
    return Call("GET", f"/api/v1/twins/{twin_id}/observations/aggregate", model(list[Bucket]),
                params={**_range(channel, since, until), "bucket": bucket})


def observations_export(twin_id: str, fmt: str = "csv", channel: str | None = None, since: datetime | None = None,
                        until: datetime | None = None) -> Call[bytes]:
    return Call("GET", f"/api/v1/twins/{twin_id}/observations/export", raw,
                params={**_range(channel, since, until), "format": fmt})


def command_send(twin_id: str, name: str, arguments: dict[str, Any] | None = None, device: str | None = None,
                 ttl_seconds: float = 300) -> Call[list[Command]]:
    body = {"name": name, "arguments": arguments or {}, "device": device, "ttl_seconds": ttl_seconds}
    return Call("POST", f"/api/v1/twins/{twin_id}/commands", model(list[Command]), json=body)


def command_list(twin_id: str, status: str | None = None) -> Call[list[Command]]:
    return Call("GET", f"/api/v1/twins/{twin_id}/commands", model(list[Command]), params={"status": status})


def command_ack(twin_id: str, command_id: str, status: str, detail: str = "") -> Call[Command]:
    return Call("POST", f"/api/v1/twins/{twin_id}/commands/{command_id}/ack", model(Command),
                json={"status": status, "detail": detail})


class PhysicalTwinMixin:
    """The synchronous methods of :class:`~dte.client.Client` for the physical twin."""

    def send(self, call: Call[T]) -> T:  # provided by the client
        raise NotImplementedError

    def device_create(self, twin_id: str, name: str, channels: list[str] | None = None,
                      description: str = "") -> DeviceSecret:
        return self.send(device_create(twin_id, name, channels, description))

    def device_list(self, twin_id: str) -> list[Device]:
        return self.send(device_list(twin_id))

    def device_revoke(self, twin_id: str, name: str) -> Device:
        return self.send(device_revoke(twin_id, name))

    def observations_post(self, twin_id: str, document: Any, source: str | None = None,
                          senml: bool = False) -> IngestResult:
        return self.send(observations_post(twin_id, document, source, senml))

    def observations(self, twin_id: str, channel: str | None = None, since: datetime | None = None,
                     until: datetime | None = None, cursor: str | None = None, limit: int = 1000) -> Page[Observation]:
        return self.send(observations(twin_id, channel, since, until, cursor, limit))

    def observations_aggregate(self, twin_id: str, bucket: float, channel: str | None = None,
                               since: datetime | None = None, until: datetime | None = None) -> list[Bucket]:
        return self.send(observations_aggregate(twin_id, bucket, channel, since, until))

    def observations_export(self, twin_id: str, fmt: str = "csv", channel: str | None = None,
                            since: datetime | None = None, until: datetime | None = None) -> bytes:
        return self.send(observations_export(twin_id, fmt, channel, since, until))


    def command_send(self, twin_id: str, name: str, arguments: dict[str, Any] | None = None,
                     device: str | None = None, ttl_seconds: float = 300) -> list[Command]:
        return self.send(command_send(twin_id, name, arguments, device, ttl_seconds))

    def command_list(self, twin_id: str, status: str | None = None) -> list[Command]:
        return self.send(command_list(twin_id, status))

    def command_ack(self, twin_id: str, command_id: str, status: str, detail: str = "") -> Command:
        return self.send(command_ack(twin_id, command_id, status, detail))
