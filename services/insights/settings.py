from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "insights"
    http_port: int = 8105
    max_otlp_body_bytes: int = 8 * 1024 * 1024
