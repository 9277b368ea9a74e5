"""Turn validation failures (pydantic, JSON Schema) into field errors with JSON pointers."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from dte.domain.errors import FieldError

if TYPE_CHECKING:
    from referencing._core import Resolver


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


# Schemas come from published applications: a ``$ref`` is resolved inside the schema (and the
# JSON Schema meta-schemas) only - never fetched from the network, which would let a publisher
# make the engine request any URL.
LOCAL_REFERENCES = Registry()
_INSTANCE_KEYWORDS = {"const", "default", "enum", "examples"}
MAX_DEPTH = 64


def schema_errors(schema: dict[str, Any], instance: Any, prefix: str = "") -> list[FieldError]:
    """All violations of a JSON Schema (2020-12), each with the pointer of the bad field."""
    validator = Draft202012Validator(schema, registry=LOCAL_REFERENCES)
    try:
        found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    except Unresolvable as exc:  # published before references were checked; not the caller's fault alone
        return [FieldError(prefix, f"the application's schema has an unresolvable reference: {exc}")]
    return [FieldError(json_pointer(e.absolute_path, prefix), e.message) for e in found]


def unresolvable_references(schema: dict[str, Any]) -> list[str]:
    """The ``$ref`` / ``$dynamicRef`` values of ``schema`` that do not resolve inside it."""
    resource = DRAFT202012.create_resource(schema)
    uri = resource.id() or ""
    bad: list[str] = []

    def walk(node: Any, resolver: Resolver[Any]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, resolver)
            return
        if not isinstance(node, dict):
            return
        if node is not schema and isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                try:
                    resolver.lookup(value)
                except Unresolvable:
                    bad.append(value)
            elif key not in _INSTANCE_KEYWORDS:
                walk(value, resolver)

    walk(schema, LOCAL_REFERENCES.with_resource(uri, resource).resolver(base_uri=uri))
    return bad


def json_value_errors(value: Any, prefix: str = "", max_depth: int = MAX_DEPTH) -> list[FieldError]:
    """Where ``value`` is not plain JSON that every database stores as given: objects with string
    keys, arrays, strings without NUL characters, finite numbers, booleans and null - nested at
    most ``max_depth`` levels, so later recursive steps cannot run out of stack."""
    errors: list[FieldError] = []

    def walk(node: Any, path: list[Any]) -> None:
        if len(path) > max_depth:
            errors.append(FieldError(json_pointer(path, prefix), f"nested more than {max_depth} levels deep"))
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    errors.append(FieldError(json_pointer(path, prefix), f"object keys must be strings, not {key!r}"))
                else:
                    walk(key, path)
                    walk(item, [*path, key])
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, [*path, index])
        elif isinstance(node, float) and not math.isfinite(node):
            errors.append(FieldError(json_pointer(path, prefix), f"{node} is not a JSON number"))
        elif isinstance(node, str) and "\x00" in node:
            errors.append(FieldError(json_pointer(path, prefix), "text must not contain NUL characters"))
        elif node is not None and not isinstance(node, (str, int, float, bool)):
            errors.append(FieldError(json_pointer(path, prefix),
                                     f"a {type(node).__name__} is not a JSON value; quote it to make it a string"))

    walk(value, [])
    return errors


def apply_defaults(schema: dict[str, Any], instance: dict[str, Any]) -> dict[str, Any]:
    """Fill top-level properties missing from ``instance`` with the schema's ``default`` values."""
    filled = dict(instance)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    return filled
