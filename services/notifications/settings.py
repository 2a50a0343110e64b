from typing import Self

from pydantic import Field, model_validator

from shared.settings import ServiceSettings

DEV_SMS_TOKEN = "dev-sms-auth-token"


class Settings(ServiceSettings):
    service_name: str = "notifications"
    http_port: int = 8104
    # Where this service is reached from outside: the SMS provider's status callbacks come here.
    public_url: str = "http://127.0.0.1:8104"
    # Where the links in messages point, by a link's first path segment: {"crisis": "https://..."}.
    # A segment not listed stays a relative link (fine in the inbox, not in an email).
    link_bases: dict[str, str] = Field(default_factory=dict)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    email_from: str = "Recovery Network <no-reply@recovery.network>"

    sms_api_url: str = "http://127.0.0.1:8190"
    sms_account_sid: str = "AC00000000000000000000000000000000"
    sms_auth_token: str = DEV_SMS_TOKEN
    sms_from: str = "+15550100000"

    # Tests post to receivers on this machine, which a deployment refuses (shared.egress).
    webhook_allow_private_targets: bool = False

    send_timeout_seconds: float = Field(default=10.0, gt=0)
    scheduler_interval_seconds: float = Field(default=1.0, gt=0)
    # Retention: read in-app messages and attempt logs older than this are removed.
    read_retention_days: float = Field(default=90.0, gt=0)
    attempts_retention_days: float = Field(default=90.0, gt=0)

    @property
    def sms_status_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/notifications/sms/status"

    @model_validator(mode="after")
    def _no_dev_sms_token_in_production(self) -> Self:
        if self.environment == "production" and self.sms_auth_token == DEV_SMS_TOKEN:
            raise ValueError("set RN_SMS_AUTH_TOKEN to the SMS provider's auth token in production")
        if self.environment == "production" and not self.public_url.startswith("https://"):
            raise ValueError("RN_PUBLIC_URL must be the service's public https address in production")
        if self.environment == "production" and self.webhook_allow_private_targets:
            raise ValueError("RN_WEBHOOK_ALLOW_PRIVATE_TARGETS would let webhooks reach internal hosts")
        return self
