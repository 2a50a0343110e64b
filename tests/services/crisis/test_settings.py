"""The notes keyring from the environment: the single master key still works, as key v1."""

import base64
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.crisis.settings import Settings
from shared.crypto import Sealer
from shared.settings import DEV_NOTES_KEY

V1, V2 = os.urandom(32), os.urandom(32)
B64_V1, B64_V2 = base64.b64encode(V1).decode(), base64.b64encode(V2).decode()
PRODUCTION = {
    "environment": "production",
    "jwks_url": "https://id.example.org/jwks",
    "console_session_secret": "a-real-secret",
    "public_url": "https://crisis.example.org",
}


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RN_JWT_PUBLIC_KEY_FILE", str(tmp_path / "k.pem"))
    for name in ("RN_NOTES_MASTER_KEY", "RN_NOTES_KEYS", "RN_NOTES_CURRENT_KEY", "RN_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


def test_the_single_master_key_is_version_1_and_reads_what_it_sealed_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RN_NOTES_MASTER_KEY", B64_V1)
    unversioned = Sealer(V1).seal("org-a", "case-1", "before rotation").removeprefix("v1:")

    sealer = Settings().notes_sealer()

    assert (sealer.versions, sealer.current) == ([1], 1)
    assert sealer.open("org-a", "case-1", unversioned) == "before rotation"


def test_a_new_key_beside_the_master_key_becomes_current_unless_another_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RN_NOTES_MASTER_KEY", B64_V1)
    monkeypatch.setenv("RN_NOTES_KEYS", f"v2:{B64_V2}")
    assert (Settings().notes_sealer().versions, Settings().notes_sealer().current) == ([1, 2], 2)

    monkeypatch.setenv("RN_NOTES_CURRENT_KEY", "v1")
    assert Settings().notes_sealer().current == 1


def test_keys_alone_make_the_keyring_and_retiring_v1_drops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RN_NOTES_KEYS", f"v2:{B64_V2},v1:{B64_V1}")
    assert Settings().notes_sealer().versions == [1, 2]

    monkeypatch.setenv("RN_NOTES_KEYS", f"v2:{B64_V2}")
    assert Settings().notes_sealer().versions == [2]


def test_keys_that_cannot_work_stop_the_service_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RN_NOTES_MASTER_KEY", B64_V1)
    monkeypatch.setenv("RN_NOTES_KEYS", f"v1:{B64_V2}")
    with pytest.raises(ValidationError, match="RN_NOTES_KEYS gives another v1"):
        Settings()

    monkeypatch.setenv("RN_NOTES_KEYS", f"v2:{B64_V2}")
    monkeypatch.setenv("RN_NOTES_CURRENT_KEY", "v3")
    with pytest.raises(ValidationError, match="current key v3 is not in the keyring"):
        Settings()


def test_production_refuses_the_public_development_key_anywhere_in_the_keyring() -> None:
    with pytest.raises(ValidationError, match="development notes key is public"):
        Settings(**PRODUCTION)
    with pytest.raises(ValidationError, match="development notes key is public"):
        Settings(**PRODUCTION, notes_keys=f"v2:{B64_V2},v1:{DEV_NOTES_KEY}")

    assert Settings(**PRODUCTION, notes_keys=f"v2:{B64_V2}").notes_sealer().versions == [2]
