"""Helpers for an application's own tests: check it the way the engine will when it is published."""

from __future__ import annotations

from pathlib import Path

from dte.domain.bundle import canonicalize
from dte.domain.manifest import AppManifest
from dte.domain.workflows import compile_application
from dte.sdk.build import build_bundle
from dte.services.components import describe_host

MAX_BUNDLE_BYTES = 64 * 1024 * 1024


def check_app(directory: Path | str) -> AppManifest:
    """Bundle ``directory`` and validate it exactly as ``dte app publish`` would - the manifest, the
    component index and every workflow against this machine's installed modules; return the manifest.

    Raises :class:`dte.domain.errors.InvalidInput` naming each bad field.
    """
    manifest, index, _ = canonicalize(build_bundle(Path(directory)), MAX_BUNDLE_BYTES)
    installed = {c.ref: c for c in describe_host()}
    compile_application(manifest, {**installed, **{c.ref: c for c in index.components}})
    return manifest
