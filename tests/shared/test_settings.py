from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings


def test_production_refuses_to_start_without_the_identity_providers_keys(tmp_path: Path) -> None:
    key = tmp_path / "dev.pub.pem"
    key.write_text("not used")
    with pytest.raises(ValidationError, match="RN_JWKS_URL"):
        ServiceSettings(environment="production", jwt_public_key_file=key)
    with pytest.raises(ValidationError, match="RN_JWKS_URL or RN_JWT_PUBLIC_KEY_FILE"):
        ServiceSettings()
    assert ServiceSettings(environment="production", jwks_url="https://id.example.org/jwks").jwks_url


def test_settings_come_from_rn_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RN_JWT_PUBLIC_KEY_FILE", str(tmp_path / "k.pem"))
    monkeypatch.setenv("RN_MAX_DELIVER", "7")
    monkeypatch.setenv("RN_SERVICE_NAME", "crisis")
    settings = ServiceSettings()
    assert (settings.max_deliver, settings.database_name) == (7, "rn_crisis")


def test_a_comma_separated_nats_url_names_every_node_of_a_cluster(tmp_path: Path) -> None:
    key = tmp_path / "dev.pub.pem"
    urls = "nats://n0:4222, nats://n1:4222,nats://n2:4222"
    settings = ServiceSettings(nats_url=urls, jwt_public_key_file=key)
    assert settings.nats_servers == ["nats://n0:4222", "nats://n1:4222", "nats://n2:4222"]
    assert ServiceSettings(jwt_public_key_file=key).nats_servers == ["nats://127.0.0.1:4222"]
