"""``dte device`` and ``dte observe``: a twin's devices, sending observations, reading history."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from dte.cli.common import JsonOpt, parse_assignments, show, state

device_app = typer.Typer(help="Devices of a twin (physical-twin data sources)", no_args_is_help=True)
observe_app = typer.Typer(help="Observations of a twin: send, list, aggregate, export", no_args_is_help=True)
TwinArg = Annotated[str, typer.Argument(help="twin id or project/name")]
ChannelOpt = Annotated[str | None, typer.Option("--channel", "-c", help="one channel; default: all")]
SinceOpt = Annotated[datetime | None, typer.Option(help="from this time (UTC unless a zone is given)")]
UntilOpt = Annotated[datetime | None, typer.Option(help="until this time (exclusive)")]


def _twin_id(reference: str) -> str:
    return state.client().twin_find(reference).id


@device_app.command("add")
def device_add(twin: TwinArg, name: str, channel: Annotated[list[str] | None, typer.Option(
        "--channel", "-c", help="a channel it may publish (repeat); default: all")] = None,
               description: str = "", as_json: JsonOpt = False) -> None:
    """Register a device; prints its secret ONCE (HTTP bearer / MQTT password)."""
    state.json = state.json or as_json
    show(state.client().device_create(_twin_id(twin), name, channel or [], description))


@device_app.command("list")
def device_list(twin: TwinArg, as_json: JsonOpt = False) -> None:
    state.json = state.json or as_json
    show(state.client().device_list(_twin_id(twin)), ["name", "id", "channels", "last_seen_at", "revoked_at"])


@device_app.command("revoke")
def device_revoke(twin: TwinArg, name: str, as_json: JsonOpt = False) -> None:
    """Revoke a device's secret: it can no longer publish."""
    state.json = state.json or as_json
    show(state.client().device_revoke(_twin_id(twin), name))


@observe_app.command("send")
def observe_send(twin: TwinArg, file: Annotated[Path | None, typer.Argument(
        help="JSON file: SenML array or {\"observations\": [...]}; '-' or none: stdin")] = None,
                 source: str | None = None, as_json: JsonOpt = False) -> None:
    """Submit observations; answered once they are durable."""
    state.json = state.json or as_json
    text = sys.stdin.read() if file is None or str(file) == "-" else file.read_text()
    show(state.client().observations_post(_twin_id(twin), json.loads(text), source))


@observe_app.command("list")
def observe_list(twin: TwinArg, channel: ChannelOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                 limit: int = 100, as_json: JsonOpt = False) -> None:
    state.json = state.json or as_json
    page = state.client().observations(_twin_id(twin), channel, since, until, limit=limit)
    show(page.items, ["time", "channel", "value", "source", "seq"])


@observe_app.command("aggregate")
def observe_aggregate(twin: TwinArg, bucket: Annotated[float, typer.Option(help="bucket width, seconds")] = 60,
                      channel: ChannelOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                      as_json: JsonOpt = False) -> None:
    """min, max, mean and count per channel and time bucket."""
    state.json = state.json or as_json
    show(state.client().observations_aggregate(_twin_id(twin), bucket, channel, since, until),
         ["channel", "start", "count", "min", "max", "mean"])


@observe_app.command("export")
def observe_export(twin: TwinArg, output: Path, fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
                   channel: ChannelOpt = None, since: SinceOpt = None, until: UntilOpt = None) -> None:
    """Write the history to a CSV or Parquet file."""
    output.write_bytes(state.client().observations_export(_twin_id(twin), fmt, channel, since, until))
    typer.echo(f"wrote {output}")


@device_app.command("command")
def device_command(twin: TwinArg, name: str, pairs: Annotated[list[str] | None, typer.Argument(
        help="arguments as key=value")] = None, device: str | None = None, ttl: float = 300,
                   as_json: JsonOpt = False) -> None:
    """Send a command to the twin's devices (or one --device)."""
    state.json = state.json or as_json
    show(state.client().command_send(_twin_id(twin), name, parse_assignments(pairs or [], None), device, ttl),
         ["id", "name", "status", "device_id", "expires_at"])


@device_app.command("commands")
def device_commands(twin: TwinArg, status: str | None = None, as_json: JsonOpt = False) -> None:
    """The twin's commands and their lifecycle status, newest first."""
    state.json = state.json or as_json
    show(state.client().command_list(_twin_id(twin), status),
         ["id", "name", "status", "detail", "created_at", "completed_at"])
