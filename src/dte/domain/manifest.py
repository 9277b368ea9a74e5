"""The application manifest (``dte-app.yaml``): what a DT application declares to the engine.

Manifests are data: the engine validates them without importing any application code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from dte.domain.errors import FieldError, InvalidInput
from dte.domain.events import EventType
from dte.domain.semver import Version
from dte.domain.validation import json_value_errors, pydantic_errors, unresolvable_references
from dte.domain.workflows import WorkflowSpec

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


class Schedule(_Strict):
    """Start a run on a cron schedule, in a time zone (daylight saving time handled)."""

    cron: str = Field(min_length=9, max_length=120, description="five-field cron expression, e.g. '*/15 * * * *'")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. 'Europe/Rome'")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a five-field cron expression (minute hour day month weekday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Rome')") from None
        return value


class EventCondition(_Strict):
    """Start a run when events of a type arrive on the twin: every ``count`` of them (for
    ``observations.received``: every ``count`` new observations on ``channels``)."""

    type: EventType
    count: int = Field(default=1, ge=1, le=10_000_000)
    channels: list[str] = Field(default_factory=list, description="observations only: count just these channels")
    match: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                      description="event data fields that must be equal, e.g. {rule: flood}")


class Trigger(_Strict):
    """What starts one of the application's workflows on each active twin, besides a manual start."""

    workflow: str = Field(min_length=1)
    description: str = ""
    schedule: Schedule | None = None
    event: EventCondition | None = None
    inputs: dict[str, Any] = Field(default_factory=dict, description="workflow inputs for the runs it starts")

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if (self.schedule is None) == (self.event is None):
            raise ValueError("a trigger has exactly one of 'schedule' or 'event'")
        return self


class ModelSlot(BaseModel):
    """A named ML model the application trains or uses."""

    model_config = ConfigDict(extra="allow")
    name: Name
    description: str = ""


class AppManifest(_Strict):
    """``dte-app.yaml`` - the published JSON Schema is ``AppManifest.model_json_schema()``."""

    name: Name
    version: str = Field(max_length=100, description="Semantic version, e.g. 1.2.0")
    summary: str = Field(min_length=1, max_length=200)
    description: str = ""
    authors: list[Author] = Field(default_factory=list)
    licence: str = Field(default="", validation_alias=AliasChoices("licence", "license"), max_length=64,
                         description="SPDX licence identifier ('license' is accepted too)")
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
    components: list[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")]] = Field(
        default_factory=list, description="Python modules of the bundle that define @component functions")
    tools: list[Annotated[str, Field(pattern=r"^[\w-][\w.-]*(?:/[\w-][\w.-]*)*\.(?:cwl|ya?ml|json)$")]] = Field(
        default_factory=list, description="CWL CommandLineTool files of the bundle (paths) that become components")
    workflows: dict[Name, WorkflowSpec] = Field(default_factory=dict)
    triggers: dict[Name, Trigger] = Field(default_factory=dict)
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
        unresolvable = unresolvable_references(value)
        if unresolvable:
            raise ValueError(f"$ref {unresolvable[0]!r} does not resolve inside the schema; "
                             "schemas must be self-contained (no remote references)")
        if value.get("type", "object") != "object":
            raise ValueError("the schema must describe an object (type: object)")
        return value

    # Field validators rather than one model validator, so an error's pointer names the field.
    @field_validator("channels", "outputs", "models")
    @classmethod
    def _unique_names(cls, value: list[Channel] | list[Output] | list[ModelSlot]) -> list[Any]:
        seen: set[str] = set()
        for item in value:
            if item.name in seen:
                raise ValueError(f"the name {item.name!r} appears twice")
            seen.add(item.name)
        return value

    @field_validator("triggers")
    @classmethod
    def _known_workflows(cls, value: dict[str, Trigger], info: ValidationInfo) -> dict[str, Trigger]:
        workflows = info.data.get("workflows")
        if workflows is None:  # invalid itself, and reported as such
            return value
        for name, trigger in value.items():
            if trigger.workflow not in workflows:
                raise ValueError(f"trigger {name!r} starts unknown workflow {trigger.workflow!r}")
        return value

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)


def parse_manifest(data: Any) -> AppManifest:
    """Validate a manifest document (already parsed from YAML/JSON) into an :class:`AppManifest`."""
    if not isinstance(data, dict):
        raise InvalidInput("the manifest must be a mapping", code="invalid_manifest", errors=[FieldError("", "expected a mapping")])
    not_json = json_value_errors(data)
    if not_json:  # e.g. YAML dates, binary or .nan: the engine stores and serves manifests as JSON
        raise InvalidInput("the application manifest is invalid", code="invalid_manifest", errors=not_json)
    try:
        return AppManifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            "the application manifest is invalid", code="invalid_manifest", errors=pydantic_errors(exc)
        ) from None


class _ManifestLoader(yaml.SafeLoader):
    """Safe YAML without aliases: ``*name`` lets a 1 KB file expand to gigabytes ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, "aliases (*name) are not allowed in " + MANIFEST_FILE,
                                event.start_mark)
        return super().compose_node(parent, index)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, LookupError):  # e.g. "!!int abc", "!!timestamp x"
            raise ConstructorError(None, None, f"cannot read {node.value!r} as {node.tag}", node.start_mark) from None


def load_manifest_text(text: str | bytes) -> AppManifest:
    """Parse and validate the YAML text of a ``dte-app.yaml``."""
    try:
        data = yaml.load(text, Loader=_ManifestLoader)
    except RecursionError:
        raise InvalidInput(f"{MANIFEST_FILE} is nested too deeply", code="invalid_manifest") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{MANIFEST_FILE} is not valid YAML: {exc}", code="invalid_manifest") from None
    return parse_manifest(data)


def manifest_json_schema() -> dict[str, Any]:
    schema = AppManifest.model_json_schema()
    schema["$id"] = "https://dte.invalid/schemas/dte-app.schema.json"
    schema["title"] = "DTE application manifest (dte-app.yaml)"
    return schema
