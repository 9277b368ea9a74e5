"""How the CLI shows results: rich tables for people, JSON (``--json``) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


def plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, sort_keys=False) + "\n")


def table(rows: Sequence[BaseModel], columns: Sequence[str], title: str | None = None) -> None:
    view = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        view.add_column(column.replace("_", " "))
    for row in rows:
        data = row.model_dump(mode="json")
        view.add_row(*[_cell(data.get(c)) for c in columns])
    console.print(view)


def record(item: BaseModel, hide: Sequence[str] = ()) -> None:
    """One object as a two-column table; nested documents as JSON."""
    view = Table(show_header=False, box=None)
    view.add_column(style="bold")
    view.add_column()
    for key, value in item.model_dump(mode="json").items():
        if key not in hide:
            view.add_row(key, _cell(value, pretty=True))
    console.print(view)


def _cell(value: Any, pretty: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2 if pretty else None)
    return str(value)
