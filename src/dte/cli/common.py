"""What every CLI module shares: the global options' state, output, and ``KEY=VALUE`` parsing.

Each area of the CLI (``runs``, ``devices``, ...) is its own module with its own ``typer.Typer``
that ``main`` registers; they all import from here, never from ``main``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel

from dte.cli.output import console, emit_json, record, table
from dte.client import Client


class State:
    url: str | None = None
    token: str | None = None
    json: bool = False
    _client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, self.token)
        return self._client


state = State()
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]
DirArg = Annotated[Path, typer.Argument(help="application directory (with dte-app.yaml)")]


def show(value: Any, columns: list[str] | None = None, hide: tuple[str, ...] = ()) -> None:
    if state.json:
        emit_json(value)
    elif isinstance(value, list):
        table(value, columns or [])
    else:
        record(value, hide)


def show_secret(item: BaseModel, field: str, label: str) -> None:
    """A just-created resource with its secret: as is in JSON, else the record and then the secret
    on its own line, said to be shown once."""
    if state.json:
        emit_json(item)
        return
    record(item, hide=(field,))
    console.print(f"\n[bold]{label} (shown once):[/bold] {getattr(item, field)}")


def parse_assignments(pairs: list[str], file: Path | None) -> dict[str, Any]:
    """``key=value`` pairs (values parsed as YAML: numbers, booleans, lists) over an optional file."""
    data: dict[str, Any] = {}
    if file is not None:
        loaded = yaml.safe_load(file.read_text())
        if not isinstance(loaded, dict):
            raise typer.BadParameter(f"{file} must hold a mapping")
        data.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value")
        data[key] = yaml.safe_load(value) if value else ""
    return {k: _json_value(v) for k, v in data.items()}


def _json_value(value: Any) -> Any:
    """YAML dates and times become ISO strings: state and parameters are JSON documents."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value
