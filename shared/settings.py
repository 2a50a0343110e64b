"""Settings common to every service, read from `RN_`-prefixed environment variables."""

import base64
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crypto import LEGACY_VERSION, Sealer, parse_keys, parse_version
from shared.messaging.streams import DUPLICATE_WINDOW_SECONDS


class ServiceSettings(BaseSettings):
    """Each service subclasses this to set its name and defaults (port, database)."""

    model_config = SettingsConfigDict(env_prefix="RN_", extra="ignore")

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    http_host: str = "127.0.0.1"
    http_port: int = 8000

    # One URL, or several separated by commas: the nodes of a cluster, any of which will do.
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: str | None = None

    mongodb_url: str = "mongodb://127.0.0.1:27018/"
    database: str = ""

    # Token verification: a JWKS URL in production, a local public key file in development.
    jwks_url: str | None = None
    # A key set this old is refreshed in the background (requests go on with it meanwhile); a token whose
    # key id is not in it fetches the set again, but not more often than once per refetch interval.
    jwks_max_age_seconds: float = Field(default=300.0, gt=0)
    jwks_refetch_interval_seconds: float = Field(default=30.0, ge=0)
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "recovery-network-dev"
    jwt_audience: str = "recovery-network"

    network_file: Path = Path("deploy/local/network.json")

    # The largest request body a route takes unless the service gives it its own limit (uploads):
    # ample for any JSON command, and small enough that nobody makes a service parse megabytes.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Where traces go; the standard OTEL_* variables win when set.
    otlp_traces_endpoint: str | None = None
    log_level: str = "WARNING"

    # Per-message retry policy for event consumers.
    max_deliver: int = Field(default=5, ge=2, le=50)
    retry_backoff_seconds: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0)

    # Only events whose writer died or could not publish wait for the relay; a round reads the
    # intents left behind (shared.outbox), a handful. It must come well inside the streams'
    # duplicate window (the same setting as the provisioning's): a relay copy of an event its writer
    # did publish is dropped by JetStream only inside that window.
    outbox_relay_interval_seconds: float = Field(default=10.0, gt=0)
    stream_duplicate_window_seconds: float = Field(default=DUPLICATE_WINDOW_SECONDS, ge=4)

    # Retention (shared.retention): a round at start, then one every interval. A revision claim
    # must outlive any read-modify-write by far (shared.revisions); a published outbox entry is of
    # use to nobody once its document has been quiet for a while.
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    claims_retention_hours: float = Field(default=24.0, ge=1)
    outbox_retention_hours: float = Field(default=24.0, gt=0)

    @model_validator(mode="after")
    def _relay_runs_inside_the_duplicate_window(self) -> Self:
        if self.outbox_relay_interval_seconds > self.stream_duplicate_window_seconds / 4:
            raise ValueError(
                "RN_OUTBOX_RELAY_INTERVAL_SECONDS must be at most a quarter of "
                "RN_STREAM_DUPLICATE_WINDOW_SECONDS: the relay's copies must fall inside that window"
            )
        return self

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Self:
        # Development keys are minted on the machine itself; production trusts only the identity provider.
        if self.environment == "production" and not self.jwks_url:
            raise ValueError("RN_JWKS_URL must point at the identity provider in production")
        if not self.jwks_url and not self.jwt_public_key_file:
            raise ValueError("set RN_JWKS_URL or RN_JWT_PUBLIC_KEY_FILE so tokens can be verified")
        return self

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def database_name(self) -> str:
        return self.database or f"rn_{self.service_name}"


DEV_NOTES_KEY = "ZGV2ZWxvcG1lbnQtb25seS1jcmlzaXMtbm90ZXMta2V5IQ=="  # base64 of a public 34-byte text


class SealingSettings(ServiceSettings):
    """A service that keeps free text about a person encrypted at rest (crisis notes, check-in notes)."""

    # Master key (base64, 32+ bytes) from which each organization's notes key is derived: key v1 of
    # the keyring, the only key before keys rotated. Without any key, the development key is v1.
    notes_master_key: SecretStr | None = None
    # Keys by version, for rotation (README: rotating the notes key): "v2:<base64>,v1:<base64>".
    notes_keys: SecretStr = SecretStr("")
    # The version that seals new notes and secrets ("v2"); by default the highest in the keyring.
    notes_current_key: str | None = None

    def notes_keyring(self) -> dict[int, bytes]:
        keys = parse_keys(self.notes_keys.get_secret_value())
        if self.notes_master_key is not None:
            master = base64.b64decode(self.notes_master_key.get_secret_value())
            if keys.setdefault(LEGACY_VERSION, master) != master:
                raise ValueError("RN_NOTES_MASTER_KEY is key v1, and RN_NOTES_KEYS gives another v1")
        return keys or {LEGACY_VERSION: base64.b64decode(DEV_NOTES_KEY)}

    def notes_sealer(self) -> Sealer:
        current = parse_version(self.notes_current_key) if self.notes_current_key else None
        return Sealer(self.notes_keyring(), current)

    @model_validator(mode="after")
    def _no_dev_notes_key_in_production(self) -> Self:
        self.notes_sealer()  # a key that cannot be used stops the service at start, not at the first note
        public = base64.b64decode(DEV_NOTES_KEY)
        if self.environment == "production" and public in self.notes_keyring().values():
            raise ValueError("set RN_NOTES_MASTER_KEY or RN_NOTES_KEYS: the development notes key is public")
        return self
