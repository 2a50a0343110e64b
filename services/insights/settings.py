from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "insights"
    http_port: int = 8105
    max_otlp_body_bytes: int = 8 * 1024 * 1024
    # Exporters send it as `authorization: Bearer <token>`; without it anyone could plant spans
    # that name an organization. Unset only for a receiver nobody else can reach.
    otlp_ingest_token: str | None = None
