"""``dte app init``: a working application directory with a manifest, code and a test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from dte.domain.errors import InvalidInput
from dte.domain.manifest import NAME_PATTERN

TEMPLATE = "templates/app"


def init_app(name: str, target: Path) -> list[Path]:
    """Write the application template for ``name`` into ``target`` (new or empty)."""
    if not re.match(NAME_PATTERN, name) or not 2 <= len(name) <= 63:
        raise InvalidInput(f"{name!r} is not a valid application name: lowercase letters, digits and "
                           "single dashes, starting with a letter (e.g. 'river-flow')", code="invalid_name")
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"{target} exists and is not empty", code="target_not_empty")
    package = name.replace("-", "_")
    values = {"name": name, "package": package, "title": name.replace("-", " ").capitalize()}
    written = []
    root = resources.files("dte.sdk").joinpath(TEMPLATE)
    for source, relative in _walk(root, ""):
        path = target / relative.replace("__package__", package).replace("__name__", package)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        path.write_text(text)
        written.append(path)
    return written


def _walk(node: Traversable, prefix: str) -> Iterator[tuple[Traversable, str]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        relative = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, relative + "/")
        elif child.name.endswith(".tmpl"):
            yield child, relative.removesuffix(".tmpl")
