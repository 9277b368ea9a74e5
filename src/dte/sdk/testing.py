"""Helpers for an application's own tests: check it the way the engine will when it is published."""

from __future__ import annotations

from pathlib import Path

from dte.domain.bundle import canonicalize
from dte.domain.manifest import AppManifest
from dte.sdk.build import build_bundle

MAX_BUNDLE_BYTES = 64 * 1024 * 1024


def check_app(directory: Path | str) -> AppManifest:
    """Bundle ``directory`` and validate it exactly as ``dte app publish`` would; return the manifest.

    Raises :class:`dte.domain.errors.InvalidInput` naming each bad field.
    """
    manifest, _, _ = canonicalize(build_bundle(Path(directory)), MAX_BUNDLE_BYTES)
    return manifest
