from typing import Self

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings

DEV_NOTES_KEY = "ZGV2ZWxvcG1lbnQtb25seS1jcmlzaXMtbm90ZXMta2V5IQ=="  # base64 of a public 34-byte text


class Settings(ServiceSettings):
    service_name: str = "crisis"
    http_port: int = 8103
    # Master key (base64, 32+ bytes) from which each organization's crisis-notes key is derived.
    notes_master_key: SecretStr = SecretStr(DEV_NOTES_KEY)
    # How often the store is asked for the deadlines coming up next (each then fires on time), and
    # how often due webhook deliveries are looked for.
    timer_interval_seconds: float = Field(default=1.0, gt=0, le=5)
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    # Webhook retries wait base, 4xbase, 16xbase ... seconds (capped at ten minutes).
    webhook_backoff_base_seconds: float = Field(default=2.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _no_dev_notes_key_in_production(self) -> Self:
        if self.environment == "production" and self.notes_master_key.get_secret_value() == DEV_NOTES_KEY:
            raise ValueError("set RN_NOTES_MASTER_KEY: the development notes key is public")
        return self
