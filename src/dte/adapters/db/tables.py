"""The engine's tables. Changing one needs an Alembic migration (``make migration``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dte.adapters.db.types import Json, UTCDateTime, utcnow
from dte.domain.ids import new_id

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: Json, list[Any]: Json}


def _id() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = _id()
    username: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class MembershipRow(Base):
    __tablename__ = "memberships"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = _created()


class TokenRow(Base):
    """Personal access tokens; only the sha256 of the secret is stored."""

    __tablename__ = "tokens"
    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column()
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class ArtifactRow(Base):
    """An immutable object in the object store, addressed by the sha256 of its bytes."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()


class ApplicationRow(Base):
    __tablename__ = "applications"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(63), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    visibility: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(200), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    tag_index: Mapped[str] = mapped_column(Text, default="", doc="'|tag1|tag2|' for portable tag filters")
    latest_version: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class ApplicationVersionRow(Base):
    __tablename__ = "application_versions"
    __table_args__ = (UniqueConstraint("application_id", "version"),)
    id: Mapped[str] = _id()
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(100))
    manifest: Mapped[dict[str, Any]] = mapped_column()
    bundle_sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    published_by: Mapped[str] = mapped_column(String(63))
    published_at: Mapped[datetime] = _created()
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecation_message: Mapped[str] = mapped_column(String(500), default="")
    components: Mapped[list[Any]] = mapped_column(default=list, doc="signatures of the bundle's own components")


class TwinRow(Base):
    __tablename__ = "twins"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = _id()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    application_version_id: Mapped[str] = mapped_column(ForeignKey("application_versions.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column()
    bindings: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    reported: Mapped[dict[str, Any]] = mapped_column(default=dict)
    desired: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class TwinRevisionRow(Base):
    """Snapshot of a twin at each revision: read the twin back as of any time."""

    __tablename__ = "twin_revisions"
    __table_args__ = (Index("ix_twin_revisions_twin_time", "twin_id", "changed_at"),)
    twin_id: Mapped[str] = mapped_column(ForeignKey("twins.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    reported: Mapped[dict[str, Any]] = mapped_column()
    desired: Mapped[dict[str, Any]] = mapped_column()
    parameters: Mapped[dict[str, Any]] = mapped_column()
    bindings: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(64))
    changed_by: Mapped[str] = mapped_column(String(63))
    changed_at: Mapped[datetime] = _created()


# --- physical twin: devices, observations, commands (issue 4) -----------------------------------

# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
_SERIAL = BigInteger().with_variant(Integer, "sqlite")


class DeviceRow(Base):
    """A physical-twin data source of one twin; only the sha256 of its secret is stored."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("twin_id", "name"),)
    id: Mapped[str] = _id()
    twin_id: Mapped[str] = mapped_column(ForeignKey("twins.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    channels: Mapped[list[Any]] = mapped_column(default=list, doc="channels it may publish; empty: all")
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_seen_at: Mapped[datetime | None] = mapped_column()


class ObservationRow(Base):
    """One timestamped channel value. ``id`` grows in commit order per twin (writers hold the twin's
    row lock), so live streams resume from it; ``(twin, source, seq)`` makes resends idempotent."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("twin_id", "source", "seq", name="uq_observations_source_seq"),
        Index("ix_observations_twin_channel_time", "twin_id", "channel", "time_us"),
    )
    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    twin_id: Mapped[str] = mapped_column(ForeignKey("twins.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(63))
    time_us: Mapped[int] = mapped_column(BigInteger, doc="observation time, microseconds since the epoch (UTC)")
    value: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text, doc="value of string and boolean channels")
    source: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = _created()


class CommandRow(Base):
    """A command to the physical twin and where it is in its lifecycle."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_twin_status", "twin_id", "status"),)
    id: Mapped[str] = _id()
    twin_id: Mapped[str] = mapped_column(ForeignKey("twins.id", ondelete="CASCADE"))
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(63))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()


# --- AAI (issue 5): external identities, passwords, the embedded issuer, audit log ---------------

class IdentityRow(Base):
    """Links a subject of a trusted OIDC issuer to the local user it was provisioned as."""

    __tablename__ = "identities"
    issuer: Mapped[str] = mapped_column(String(500), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()


class PasswordRow(Base):
    """A user's argon2id password hash (embedded issuer only)."""

    __tablename__ = "user_passwords"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    hash: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _created()


class SigningKeyRow(Base):
    """Keys of the embedded issuer; published in the JWKS until the last token they signed expires."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_jwk: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()


class OAuthClientRow(Base):
    """An OAuth client of the embedded issuer; confidential clients act as their own service user."""

    __tablename__ = "oauth_clients"
    client_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    secret_sha256: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uris: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()


class AuthorizationCodeRow(Base):
    """A one-time authorization code (stored as its sha256) bound to a PKCE challenge."""

    __tablename__ = "authorization_codes"
    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(63))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column()


class RefreshTokenRow(Base):
    """Refresh tokens (sha256 only); each use rotates it, and reuse of a rotated one revokes the family."""

    __tablename__ = "refresh_tokens"
    id: Mapped[str] = _id()
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(63))
    scope: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditRow(Base):
    """Append-only audit log; each entry's hash covers its content and the previous entry's hash."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_project_seq", "project_id", "seq"),)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(200))
    project_id: Mapped[str | None] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# --- workflows, runs, triggers (issue 3) -----------------------------------------------------------


class ComponentRow(Base):
    """A component of an installed thematic module, as the compute workers describe it."""

    __tablename__ = "components"
    ref: Mapped[str] = mapped_column(String(127), primary_key=True)
    version: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = _created()


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_project_created", "project_id", "id"),
        Index("ix_runs_twin_created", "twin_id", "id"),
        Index("ix_runs_status", "status"),
    )
    id: Mapped[str] = _id()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    twin_id: Mapped[str] = mapped_column(ForeignKey("twins.id", ondelete="CASCADE"))
    application_version_id: Mapped[str] = mapped_column(ForeignKey("application_versions.id"))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    workflow: Mapped[str] = mapped_column(String(63))
    definition_sha256: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column()
    inputs: Mapped[dict[str, Any]] = mapped_column(doc="resolved workflow and context inputs, with hashes")
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[dict[str, Any]] = mapped_column(doc="kind (manual, schedule, event), name, context")
    created_by: Mapped[str] = mapped_column(String(63))
    engine_version: Mapped[str] = mapped_column(String(32))
    steps_total: Mapped[int] = mapped_column(Integer)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    lease_until: Mapped[datetime | None] = mapped_column(doc="the engine running it renews this; expired = orphaned")
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    run_manifest: Mapped[dict[str, Any] | None] = mapped_column(doc="what was signed: hashes of everything")
    signature: Mapped[str | None] = mapped_column(String(200))


class RunStepRow(Base):
    __tablename__ = "run_steps"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    component: Mapped[str] = mapped_column(String(127))
    component_version: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="input name -> sha256 of the value")
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="output name -> value or artifact reference")
    logs: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class TriggerStateRow(Base):
    """Per twin and trigger: when it fires next (schedules) or how many events it has seen (events)."""

    __tablename__ = "trigger_state"
    twin_id: Mapped[str] = mapped_column(ForeignKey("twins.id", ondelete="CASCADE"), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(63), primary_key=True)
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    last_fired_at: Mapped[datetime | None] = mapped_column()
    last_run_id: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str] = mapped_column(Text, default="")
