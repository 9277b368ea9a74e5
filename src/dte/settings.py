"""One settings object for the whole engine: ``DTE_*`` environment variables, then ``dte.toml``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dte.domain.identity import ClaimRule


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DTE_", toml_file="dte.toml", extra="ignore")

    data_dir: Path = Field(default=Path(".dte"), description="where the embedded mode keeps its files")
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir. postgresql://... scales out"
    )
    objects_url: str | None = Field(default=None, description="fsspec URL for artifacts; default: data_dir/objects")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="URL clients reach the engine at")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_bundle_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="unpacked size limit of a bundle")
    admin_token: SecretStr | None = Field(default=None, description="bootstrap admin token; random when unset")
    bundled_apps_dir: Path | None = Field(default=None, description="publish every app in this folder on start")
    bundled_apps_project: str = "demo"
    metrics_public: bool = Field(default=True, description="serve /metrics without a token (else platform admins only)")
    allow_project_creation: bool = Field(default=False, description="any user may create projects (else platform admins)")
    # Physical twin: device ingest over HTTP and MQTT (issue 4).
    mqtt_url: SecretStr | None = Field(default=None, description="external MQTT broker, mqtt://user:password@host:port "
                                       "(mqtts:// for TLS); unset: the engine starts its embedded broker")
    mqtt_embedded: bool = Field(default=True, description="start the embedded broker when mqtt_url is unset")
    mqtt_host: str = Field(default="127.0.0.1", description="bind address of the embedded broker")
    mqtt_port: int = Field(default=1884, ge=0, le=65535, description="port of the embedded broker")
    mqtt_topic: str = Field(default="dte/{project}/{twin}/{channel}", description="topic scheme of observations")
    mqtt_client_id: str = Field(default="dte-engine", description="the engine's MQTT client id (persistent session)")
    mqtt_command_topic: str = Field(default="dte/{project}/{twin}/commands/{device}",
                                    description="topic scheme of commands to a device (acks: .../ack)")
    ingest_max_pending: int = Field(default=50_000, ge=1, description="observations queued for writing before "
                                    "HTTP answers 429 and MQTT intake pauses")
    ingest_max_batch: int = Field(default=5_000, ge=1, description="observations per write transaction")
    ingest_max_records: int = Field(default=10_000, ge=1, description="records per message")
    ingest_max_future_seconds: float = Field(default=300, ge=0, description="how far ahead of the engine's "
                                             "clock an observation's time may be")
    # --- workflows and compute (issue 3) ---
    dask_scheduler: str | None = Field(default=None, description="existing Dask scheduler, tcp://host:8786; "
                                       "unset: an embedded LocalCluster")
    dask_workers: int = Field(default=2, ge=1, le=256, description="embedded cluster: worker processes")
    dask_threads_per_worker: int = Field(default=2, ge=1, le=256, description="embedded cluster: threads each")
    dask_memory_limit: str = Field(default="auto", description="embedded cluster: memory per worker, e.g. '4GiB'")
    compute_autostart: bool = Field(default=True, description="start compute with the engine (else on first run)")
    inline_value_bytes: int = Field(default=64 * 1024, ge=0, description="larger step outputs go to the object store")
    signing_key_file: Path | None = Field(default=None, description="Ed25519 private key (PEM) that signs run "
                                          "manifests; default data_dir/signing-key.pem, created on first start")
    run_lease_seconds: float = Field(default=60, ge=5, description="a run whose engine stopped renewing it this "
                                     "long is failed as orphaned")
    log_level: str = "info"
    log_json: bool = False

    # --- AAI: token issuers, claims mapping, embedded issuer, limits (see docs/operator-guide.md) ---
    auth_issuers: list[str] = Field(default_factory=list, description="trusted external OIDC issuer URLs (exact iss)")
    auth_audience: str = Field(default="dte", description="JWTs must name this in aud")
    auth_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"],
                                       description="allowed JWS algorithms (asymmetric only)")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    auth_jwks_refetch_seconds: float = Field(default=30.0, ge=0, description="least time between JWKS refetches")
    auth_claims_mapping: list[ClaimRule] = Field(default_factory=list, description="token claims -> project roles")
    auth_username_claim: str = "preferred_username"
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300, description="reuse an authenticated token's "
                                      "principal this long (other engine processes see revocations this late)")
    issuer_enabled: bool = Field(default=True, description="run the embedded OIDC issuer")
    issuer_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    issuer_refresh_days: int = Field(default=30, ge=1, le=365)
    issuer_key_rotation_days: int = Field(default=30, ge=1)
    admin_password: SecretStr | None = Field(default=None, description="bootstrap admin password; random when unset")
    rate_limit_per_minute: int = Field(default=1200, ge=0, description="requests per principal; 0: unlimited")
    login_failures_per_minute: int = Field(default=10, ge=1, description="failed logins per client address")
    audit_enabled: bool = True
    insecure_disable_auth: bool = Field(default=False, description="benchmarks only: every caller is admin")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("admin_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secret = value.get_secret_value()
            if not secret.startswith("dte_pat_") or len(secret) < 40:
                raise ValueError("DTE_ADMIN_TOKEN must start with 'dte_pat_' and be at least 40 characters long")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'dte.sqlite3'}"

    @property
    def effective_objects_url(self) -> str:
        return self.objects_url or str(self.data_dir / "objects")

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def masked(self) -> dict[str, Any]:
        """Effective settings for display: secrets and URL passwords replaced by ``***``."""
        shown = self.model_dump(mode="json")
        for name, value in shown.items():
            if isinstance(getattr(self, name), SecretStr) and value is not None:
                shown[name] = "***"
        shown["database_url"] = mask_url(self.effective_database_url)
        shown["objects_url"] = mask_url(self.effective_objects_url)
        return shown


def mask_url(url: str) -> str:
    """Hide the password part of ``scheme://user:password@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


@lru_cache
def get_settings() -> Settings:
    return Settings()
