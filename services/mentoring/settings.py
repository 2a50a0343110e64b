from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "mentoring"
    http_port: int = 8102
