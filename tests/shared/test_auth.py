import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth.devkeys import AUDIENCE, DEV_ISSUER, ensure_keypair, mint_token
from shared.auth.principal import Role
from shared.auth.tokens import InvalidToken, TokenVerifier


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return ensure_keypair(tmp_path / "keys")


def verifier(public: Path) -> TokenVerifier:
    return TokenVerifier(issuer=DEV_ISSUER, audience=AUDIENCE, public_key_file=public)


def test_a_minted_token_verifies_to_its_organization_and_roles(keys: tuple[Path, Path]) -> None:
    private, public = keys
    token = mint_token(private, sub="u1", org="org-a", roles=[Role.MEMBER, Role.MENTOR])
    principal = verifier(public).verify(token)
    assert (principal.sub, principal.org) == ("u1", "org-a")
    assert principal.roles == {Role.MEMBER, Role.MENTOR}


def test_expired_foreign_and_incomplete_tokens_are_refused(keys: tuple[Path, Path], tmp_path: Path) -> None:
    private, public = keys
    other_private, _ = ensure_keypair(tmp_path / "other")
    now = int(time.time())
    base = {
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "sub": "u1",
        "org": "org-a",
        "roles": ["member"],
        "exp": now + 60,
    }
    bad = [
        mint_token(private, sub="u1", org="org-a", roles=[Role.MEMBER], ttl_seconds=-10),
        mint_token(other_private, sub="u1", org="org-a", roles=[Role.MEMBER]),
        jwt.encode({**base, "org": ""}, private.read_text(), algorithm="ES256"),
        jwt.encode({**base, "roles": ["superuser"]}, private.read_text(), algorithm="ES256"),
        jwt.encode({**base, "aud": "someone-else"}, private.read_text(), algorithm="ES256"),
        jwt.encode(base, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256"),
        # RS256 by a key nobody knows: PyJWT used to misread our EC key for it (TypeError, a 500).
        jwt.encode(base, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256"),
        jwt.encode(base, "", algorithm="none"),
        "not.a.token",
    ]
    for token in bad:
        with pytest.raises(InvalidToken):
            verifier(public).verify(token)


def test_the_key_pair_is_made_once_and_reused(tmp_path: Path) -> None:
    first = ensure_keypair(tmp_path)
    content = first[0].read_bytes()
    assert ensure_keypair(tmp_path) == first
    assert first[0].read_bytes() == content


def test_rn_token_prints_a_token_the_services_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.auth.cli import main

    ensure_keypair(tmp_path)  # rn-token signs with the network's key; it never makes one
    main(["--sub", "hh-member-1", "--org", "harbor-house", "--role", "member", "--keys", str(tmp_path)])
    token = capsys.readouterr().out.strip()
    principal = verifier(tmp_path / "dev-signing.pub.pem").verify(token)
    assert (principal.sub, principal.org, principal.roles) == ("hh-member-1", "harbor-house", {Role.MEMBER})
    with pytest.raises(SystemExit):
        main(["--sub", "x", "--org", "harbor-house", "--role", "superuser", "--keys", str(tmp_path)])


async def test_a_jwks_is_fetched_off_the_event_loop_and_its_tokens_verify(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()
    fetched_on: list[str] = []

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched_on.append(threading.current_thread().name)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks"
        verifier = TokenVerifier(issuer=DEV_ISSUER, audience=AUDIENCE, jwks_url=url)
        claims = {"iss": DEV_ISSUER, "aud": AUDIENCE, "sub": "u1", "org": "org-a", "roles": ["member"]}
        token = jwt.encode(
            {**claims, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"}
        )
        loop_thread = threading.current_thread()
        principal = await verifier.verify_async(token)
        assert (principal.sub, principal.org) == ("u1", "org-a")
        assert fetched_on and loop_thread.name not in fetched_on
    finally:
        server.shutdown()
