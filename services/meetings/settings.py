from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "meetings"
    http_port: int = 8101
