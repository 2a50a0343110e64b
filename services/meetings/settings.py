from typing import Self

from pydantic import Field, model_validator

from shared.settings import ServiceSettings

DEV_CHECKIN_SECRET = "dev-checkin-secret-change-me"


class Settings(ServiceSettings):
    service_name: str = "meetings"
    http_port: int = 8101
    # Where the directory is reached from outside: calendar links and feed URLs point here.
    public_url: str = "http://127.0.0.1:8101"

    # Feed uploads (the largest real feeds are a few MB); every other body keeps the default limit.
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Check-in codes are derived from this secret, the meeting and the occurrence.
    checkin_secret: str = DEV_CHECKIN_SECRET
    # A check-in code works from this long before an occurrence starts to this long after it ends.
    checkin_opens_minutes: float = Field(default=30.0, ge=0)
    checkin_closes_minutes: float = Field(default=60.0, ge=0)
    # A member who has not attended any of their usual meetings for this many weeks is disengaged.
    disengaged_after_weeks: int = Field(default=3, ge=1, le=52)
    scheduler_interval_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Self:
        if self.environment == "production" and self.checkin_secret == DEV_CHECKIN_SECRET:
            raise ValueError("set RN_CHECKIN_SECRET to a secret of its own in production")
        return self
