"""The published manifest JSON Schema accepts what the engine accepts: the template and bundled apps."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from helpers import REPO, THERMO_MANIFEST

from dte.domain.manifest import load_manifest_text, manifest_json_schema
from dte.sdk import init_app


def _manifests(tmp: Path) -> list[str]:
    init_app("scaffolded", tmp / "scaffolded")
    paths = [tmp / "scaffolded" / "dte-app.yaml", *sorted((REPO / "apps").glob("*/dte-app.yaml"))]
    return [p.read_text() for p in paths] + [THERMO_MANIFEST]


def test_published_schema_accepts_valid_manifests(tmp_path: Path) -> None:
    schema = manifest_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for text in _manifests(tmp_path):
        load_manifest_text(text)
        jsonschema.validate(yaml.safe_load(text), schema)


@pytest.mark.parametrize("key", ["licence", "license"])
def test_licence_spellings(key: str) -> None:
    assert load_manifest_text(f"name: ab\nversion: 1.0.0\nsummary: s\n{key}: MIT\n").licence == "MIT"
