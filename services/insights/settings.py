from typing import Self

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "insights"
    http_port: int = 8105
    max_otlp_body_bytes: int = 8 * 1024 * 1024
    # Exporters send it as `authorization: Bearer <token>`; without it anyone could plant spans
    # that name an organization. Unset only for a receiver nobody else can reach (never in production).
    otlp_ingest_token: str | None = None
    # Rollups are written this often; a crash loses at most this much of the figures (spans are kept).
    rollup_flush_seconds: float = Field(default=5.0, gt=0)
    # Raw spans serve the trace view; the dashboards read rollups, kept longer the coarser they are.
    span_retention_days: float = Field(default=7, gt=0)
    minute_rollup_days: float = Field(default=2, gt=0)
    hour_rollup_days: float = Field(default=92, gt=0)
    day_rollup_days: float = Field(default=732, gt=0)

    @model_validator(mode="after")
    def _ingest_token_in_production(self) -> Self:
        if self.environment == "production" and not self.otlp_ingest_token:
            raise ValueError("RN_OTLP_INGEST_TOKEN is required in production")
        return self
