from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "crisis"
    http_port: int = 8103
