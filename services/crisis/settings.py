import base64
from typing import Self

from pydantic import Field, SecretStr, model_validator

from shared.crypto import LEGACY_VERSION, Sealer, parse_keys, parse_version
from shared.settings import ServiceSettings

DEV_NOTES_KEY = "ZGV2ZWxvcG1lbnQtb25seS1jcmlzaXMtbm90ZXMta2V5IQ=="  # base64 of a public 34-byte text


class Settings(ServiceSettings):
    service_name: str = "crisis"
    http_port: int = 8103
    # Master key (base64, 32+ bytes) from which each organization's crisis-notes key is derived: key v1
    # of the keyring, the only key before keys rotated. Without any key, the development key is v1.
    notes_master_key: SecretStr | None = None
    # Keys by version, for rotation (README: rotating the notes key): "v2:<base64>,v1:<base64>".
    notes_keys: SecretStr = SecretStr("")
    # The version that seals new notes and secrets ("v2"); by default the highest in the keyring.
    notes_current_key: str | None = None
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
    def _deliveries_outlive_the_duplicate_window(self) -> Self:
        if self.webhook_deliveries_retention_hours * 3600 <= self.stream_duplicate_window_seconds:
            raise ValueError(
                "RN_WEBHOOK_DELIVERIES_RETENTION_HOURS must be longer than JetStream's duplicate window"
            )
        return self

    @model_validator(mode="after")
    def _no_dev_notes_key_in_production(self) -> Self:
        self.notes_sealer()  # a key that cannot be used stops the service at start, not at the first note
        public = base64.b64decode(DEV_NOTES_KEY)
        if self.environment == "production" and public in self.notes_keyring().values():
            raise ValueError("set RN_NOTES_MASTER_KEY or RN_NOTES_KEYS: the development notes key is public")
        return self

    @model_validator(mode="after")
    def _no_private_webhook_targets_in_production(self) -> Self:
        # An organization's admin names the URL: allowed inside, a webhook reaches our own services.
        if self.environment == "production" and self.webhook_allow_private_targets:
            raise ValueError("RN_WEBHOOK_ALLOW_PRIVATE_TARGETS is for tests and development, not production")
        return self
