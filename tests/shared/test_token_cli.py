"""`rn-token` signs with the running network's key from any folder, and never makes a key of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local.stack import REPO
from shared.auth.cli import key_folder
from shared.auth.devkeys import AUDIENCE, DEV_ISSUER, ensure_keypair
from shared.auth.principal import Role
from shared.auth.tokens import TokenVerifier

RN_TOKEN = Path(sys.executable).parent / "rn-token"
ARGS = ["--sub", "hh-member-1", "--org", "harbor-house", "--role", "member"]


def rn_token(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RN_DATA_DIR"} | env
    return subprocess.run(
        [str(RN_TOKEN), *ARGS, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


async def test_run_from_another_folder_it_signs_with_the_network_key_in_rn_data_dir(tmp_path: Path) -> None:
    network_data, elsewhere = tmp_path / "network", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _, public = ensure_keypair(network_data / "keys")

    done = rn_token(elsewhere, RN_DATA_DIR=str(network_data))

    assert done.returncode == 0, done.stderr
    principal = await TokenVerifier(issuer=DEV_ISSUER, audience=AUDIENCE, public_key_file=public).verify(
        done.stdout.strip()
    )
    assert (principal.sub, principal.org, principal.roles) == (
        "hh-member-1",
        "harbor-house",
        frozenset({Role.MEMBER}),
    )
    assert list(elsewhere.iterdir()) == []


def test_without_a_key_it_says_where_it_looked_and_makes_none(tmp_path: Path) -> None:
    empty = tmp_path / "no-network"

    by_env = rn_token(tmp_path, RN_DATA_DIR=str(empty))
    by_option = rn_token(tmp_path, "--keys", "keys")

    assert by_env.returncode == 1 and by_env.stdout == ""
    assert f"no signing key at {empty / 'keys' / 'dev-signing.pem'} (from RN_DATA_DIR)" in by_env.stderr
    assert by_option.returncode == 1
    assert f"no signing key at {tmp_path / 'keys' / 'dev-signing.pem'} (from --keys)" in by_option.stderr
    assert list(tmp_path.iterdir()) == []


def test_by_default_it_looks_in_the_repository_data_whatever_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder, _ = key_folder(None, {})
    assert folder == REPO / ".data" / "keys"
    assert key_folder(None, {"RN_DATA_DIR": "/srv/rn"})[0] == Path("/srv/rn/keys")
    assert key_folder(Path("k"), {"RN_DATA_DIR": "/srv/rn"})[0] == Path("k")
