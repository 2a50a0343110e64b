from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from shared.settings import SealingSettings

DEV_SESSION_SECRET = "development-only-console-session-secret"


class Settings(SealingSettings):
    service_name: str = "crisis"
    http_port: int = 8103
    # Alerts opened in their own request at once; beyond that (a surge) an alert is accepted into
    # JetStream and answered at once (202, with its case id and the guidance), and the alert
    # consumers open it, urgent ones first. 0 accepts every alert that way.
    alerts_opened_at_once: int = Field(default=24, ge=0)
    # How often the store is asked for the deadlines coming up next (each then fires on time), and
    # how often due webhook deliveries are looked for.
    timer_interval_seconds: float = Field(default=1.0, gt=0, le=5)
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    # Webhook retries wait base, 4xbase, 16xbase ... seconds (capped at ten minutes).
    webhook_backoff_base_seconds: float = Field(default=2.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # Retention (retention.py), a round every `retention_interval_seconds`. A finished delivery is
    # what keeps a redelivered escalation from being posted again: it must outlive JetStream's
    # duplicate window by far. The audit trails (case reads, regional team changes) have their own.
    webhook_attempts_retention_hours: float = Field(default=30 * 24, gt=0)
    webhook_deliveries_retention_hours: float = Field(default=7 * 24, gt=0)
    audit_retention_days: int = Field(default=2555, ge=1)  # seven years
    # Tests and local development only: webhook endpoints may be on this machine or a private network
    # (over plain http too). Cloud metadata addresses stay refused.
    webhook_allow_private_targets: bool = False

    # The console's sign-in (signin.py). Production: OpenID Connect (authorization code with PKCE)
    # against `oidc_issuer`, whose tokens the services verify through RN_JWKS_URL. Development: a page
    # that lists the demo users (`demo_users_file`, written by `make run`) and mints their tokens with
    # the development key; refused in production.
    console_session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    console_session_minutes: float = Field(default=60, gt=0, le=24 * 60)  # demo sign-ins only
    console_renewal: bool = True
    demo_users_file: Path | None = None
    dev_signing_key_file: Path | None = None
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # The provider's access token becomes the session: a JWT the services verify like any bearer token
    # (audience RN_JWT_AUDIENCE, with the org and roles claims); offline_access asks for a refresh token.
    oidc_scopes: str = "openid profile offline_access"
    # Where the provider sends the browser back: this service's public address.
    public_url: str = "http://127.0.0.1:8103"

    @model_validator(mode="after")
    def _deliveries_outlive_the_duplicate_window(self) -> Self:
        if self.webhook_deliveries_retention_hours * 3600 <= self.stream_duplicate_window_seconds:
            raise ValueError(
                "RN_WEBHOOK_DELIVERIES_RETENTION_HOURS must be longer than JetStream's duplicate window"
            )
        return self

    @property
    def demo_sign_in(self) -> bool:
        """The development sign-in page: never in production, nor beside an identity provider."""
        return (
            self.environment != "production"
            and not self.oidc_issuer
            and bool(self.demo_users_file and self.dev_signing_key_file)
        )

    @model_validator(mode="after")
    def _no_demo_sign_in_in_production(self) -> Self:
        if self.environment == "production" and (self.demo_users_file or self.dev_signing_key_file):
            raise ValueError(
                "the demo sign-in (RN_DEMO_USERS_FILE, RN_DEV_SIGNING_KEY_FILE) is not for production"
            )
        if (
            self.environment == "production"
            and self.console_session_secret.get_secret_value() == DEV_SESSION_SECRET
        ):
            raise ValueError("set RN_CONSOLE_SESSION_SECRET: the development one is public")
        if self.environment == "production" and not self.public_url.startswith("https://"):
            # The session cookie is a bearer token: only ever sent over TLS (its Secure flag follows this).
            raise ValueError("RN_PUBLIC_URL must be https in production")
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("RN_OIDC_ISSUER needs RN_OIDC_CLIENT_ID")
        return self

    @model_validator(mode="after")
    def _no_private_webhook_targets_in_production(self) -> Self:
        # An organization's admin names the URL: allowed inside, a webhook reaches our own services.
        if self.environment == "production" and self.webhook_allow_private_targets:
            raise ValueError("RN_WEBHOOK_ALLOW_PRIVATE_TARGETS is for tests and development, not production")
        return self
