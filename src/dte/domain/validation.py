"""Turn validation failures (pydantic, JSON Schema) into field errors with JSON pointers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError

from dte.domain.errors import FieldError


def json_pointer(path: Iterable[Any], prefix: str = "") -> str:
    """RFC 6901 pointer for a path of keys and indexes."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return prefix + "".join("/" + p for p in parts)


def pydantic_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        errors.append(FieldError(json_pointer(err["loc"], prefix), message))
    return errors


def schema_errors(schema: dict[str, Any], instance: Any, prefix: str = "") -> list[FieldError]:
    """All violations of a JSON Schema (2020-12), each with the pointer of the bad field."""
    validator = Draft202012Validator(schema)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [FieldError(json_pointer(e.absolute_path, prefix), e.message) for e in found]


def apply_defaults(schema: dict[str, Any], instance: dict[str, Any]) -> dict[str, Any]:
    """Fill top-level properties missing from ``instance`` with the schema's ``default`` values."""
    filled = dict(instance)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    return filled
