"""Settings common to every service, read from `RN_`-prefixed environment variables."""

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
