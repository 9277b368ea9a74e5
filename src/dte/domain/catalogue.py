"""The catalogue: DT applications and their immutable, published versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from dte.domain.common import Input, Resource


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class Application(Resource):
    id: str
    name: str
    project: str = Field(description="the project that owns and publishes the application")
    visibility: Visibility
    summary: str
    tags: list[str]
    latest_version: str | None = Field(description="highest non-deprecated release version")
    created_at: datetime
    updated_at: datetime


class ApplicationUpdate(Input):
    visibility: Visibility


class ApplicationVersion(Resource):
    id: str
    application: str
    version: str
    summary: str
    manifest: dict[str, Any]
    bundle_sha256: str
    bundle_size: int
    published_by: str
    published_at: datetime
    deprecated: bool
    deprecation_message: str


class VersionUpdate(Input):
    deprecated: bool
    deprecation_message: str = Field(default="", max_length=500)


class PublishResult(Resource):
    created: bool = Field(description="false when the identical bundle was already published")
    version: ApplicationVersion
