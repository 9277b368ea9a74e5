"""The application manifest (``dte-app.yaml``): what a DT application declares to the engine.

Manifests are data: the engine validates them without importing any application code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dte.domain.errors import FieldError, InvalidInput
from dte.domain.semver import Version
from dte.domain.validation import pydantic_errors

MANIFEST_FILE = "dte-app.yaml"
NAME_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=2, max_length=63)]
_MODULE_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:(?:==|>=|<=|~=|!=|>|<)\s*[0-9][^\s,]*\s*,?\s*)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Author(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")


class Channel(_Strict):
    """An input channel of the twin: a named, unit-carrying stream from the physical twin."""

    name: Name
    unit: str = Field(min_length=1, max_length=32, description="SenML / UCUM unit symbol, e.g. 'Cel', 'm3/s', 'mm'")
    description: str = ""
    kind: Literal["number", "boolean", "string"] = "number"


class Output(_Strict):
    """A named result the application's workflows produce."""

    name: Name
    kind: Literal["series", "scalar", "table", "file", "alert"] = "series"
    unit: str | None = None
    description: str = ""


class WorkflowSlot(BaseModel):
    """A named workflow; its steps are defined by the workflow composition layer."""

    model_config = ConfigDict(extra="allow")
    description: str = ""


class TriggerSlot(BaseModel):
    """A named trigger that starts one of the application's workflows."""

    model_config = ConfigDict(extra="allow")
    workflow: str = Field(min_length=1)
    description: str = ""


class ModelSlot(BaseModel):
    """A named ML model the application trains or uses."""

    model_config = ConfigDict(extra="allow")
    name: Name
    description: str = ""


class AppManifest(_Strict):
    """``dte-app.yaml`` - the published JSON Schema is ``AppManifest.model_json_schema()``."""

    name: Name
    version: str = Field(description="Semantic version, e.g. 1.2.0")
    summary: str = Field(min_length=1, max_length=200)
    description: str = ""
    authors: list[Author] = Field(default_factory=list)
    license: str = Field(default="", alias="licence", max_length=64, description="SPDX licence identifier")
    modules: list[str] = Field(default_factory=list, description="thematic modules required, pip-style: 'dte-hydrology>=0.1'")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (2020-12) that a twin's parameter values must satisfy",
    )
    desired_state: dict[str, Any] | None = Field(
        default=None, description="optional JSON Schema that a twin's desired state must satisfy"
    )
    channels: list[Channel] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)
    workflows: dict[Name, WorkflowSlot] = Field(default_factory=dict)
    triggers: dict[Name, TriggerSlot] = Field(default_factory=dict)
    models: list[ModelSlot] = Field(default_factory=list)
    tags: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]] = Field(default_factory=list, max_length=20)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        Version.parse(value)
        return value

    @field_validator("modules")
    @classmethod
    def _requirements(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _MODULE_REQUIREMENT.match(item):
                raise ValueError(f"{item!r} is not a requirement like 'dte-hydrology>=0.1'")
        return value

    @field_validator("parameters", "desired_state")
    @classmethod
    def _json_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        if value.get("type", "object") != "object":
            raise ValueError("the schema must describe an object (type: object)")
        return value

    @model_validator(mode="after")
    def _references(self) -> AppManifest:
        _unique([c.name for c in self.channels], "channels")
        _unique([o.name for o in self.outputs], "outputs")
        _unique([m.name for m in self.models], "models")
        for name, trigger in self.triggers.items():
            if trigger.workflow not in self.workflows:
                raise ValueError(f"trigger {name!r} starts unknown workflow {trigger.workflow!r}")
        return self

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: name {name!r} appears twice")
        seen.add(name)


def parse_manifest(data: Any) -> AppManifest:
    """Validate a manifest document (already parsed from YAML/JSON) into an :class:`AppManifest`."""
    if not isinstance(data, dict):
        raise InvalidInput("the manifest must be a mapping", code="invalid_manifest", errors=[FieldError("", "expected a mapping")])
    try:
        return AppManifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            "the application manifest is invalid", code="invalid_manifest", errors=pydantic_errors(exc)
        ) from None


def load_manifest_text(text: str | bytes) -> AppManifest:
    """Parse and validate the YAML text of a ``dte-app.yaml``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{MANIFEST_FILE} is not valid YAML: {exc}", code="invalid_manifest") from None
    return parse_manifest(data)


def manifest_json_schema() -> dict[str, Any]:
    schema = AppManifest.model_json_schema(by_alias=False)
    schema["$id"] = "https://dte.invalid/schemas/dte-app.schema.json"
    schema["title"] = "DTE application manifest (dte-app.yaml)"
    return schema
