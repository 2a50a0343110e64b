import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from shared.auth.devkeys import AUDIENCE, DEV_ISSUER, ensure_keypair, mint_token
from shared.auth.fastapi import CurrentPrincipal
from shared.auth.jwks import JwksCache, KeysUnavailable
from shared.auth.principal import Principal, Role
from shared.auth.tokens import InvalidToken, TokenVerifier
from shared.http import install_problem_handlers


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return ensure_keypair(tmp_path / "keys")


def verifier(public: Path) -> TokenVerifier:
    return TokenVerifier(issuer=DEV_ISSUER, audience=AUDIENCE, public_key_file=public)


async def test_a_minted_token_verifies_to_its_organization_and_roles(keys: tuple[Path, Path]) -> None:
    private, public = keys
    token = mint_token(private, sub="u1", org="org-a", roles=[Role.MEMBER, Role.MENTOR])
    principal = await verifier(public).verify(token)
    assert (principal.sub, principal.org) == ("u1", "org-a")
    assert principal.roles == {Role.MEMBER, Role.MENTOR}


async def test_expired_foreign_and_incomplete_tokens_are_refused(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
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
            await verifier(public).verify(token)


def test_the_key_pair_is_made_once_and_reused(tmp_path: Path) -> None:
    first = ensure_keypair(tmp_path)
    content = first[0].read_bytes()
    assert ensure_keypair(tmp_path) == first
    assert first[0].read_bytes() == content


async def test_rn_token_prints_a_token_the_services_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.auth.cli import main

    ensure_keypair(tmp_path)  # rn-token signs with the network's key; it never makes one
    main(["--sub", "hh-member-1", "--org", "harbor-house", "--role", "member", "--keys", str(tmp_path)])
    token = capsys.readouterr().out.strip()
    principal = await verifier(tmp_path / "dev-signing.pub.pem").verify(token)
    assert (principal.sub, principal.org, principal.roles) == ("hh-member-1", "harbor-house", {Role.MEMBER})
    with pytest.raises(SystemExit):
        main(["--sub", "x", "--org", "harbor-house", "--role", "superuser", "--keys", str(tmp_path)])


class Provider:
    """An identity provider's JWKS endpoint: a real HTTP server, whose answers a test can change."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes | None = None  # instead of the key set: a broken answer
        self.fetches = 0
        self.on_request: Callable[[], object] = lambda: None
        self.answer = threading.Event()  # cleared: requests wait, as with a slow provider
        self.answer.set()
        provider = self

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                provider.on_request()
                provider.answer.wait(10)
                body = provider.body or json.dumps({"keys": provider.keys}).encode()
                self.send_response(provider.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.answer.set()
        self._server.shutdown()
        self._server.server_close()

    def add_key(self, kid: str | None) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        self.keys.append({**jwk, "use": "sig"} | ({"kid": kid} if kid else {}))
        return key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.stop()


MAX_AGE, INTERVAL = 300.0, 30.0


def jwks_verifier(provider: Provider, clock: Clock) -> TokenVerifier:
    cache = JwksCache(provider.url, max_age=MAX_AGE, refetch_interval=INTERVAL, clock=clock)
    return TokenVerifier(issuer=DEV_ISSUER, audience=AUDIENCE, jwks=cache)


def signed(key: ec.EllipticCurvePrivateKey, kid: str | None, sub: str = "u1") -> str:
    claims = {"iss": DEV_ISSUER, "aud": AUDIENCE, "sub": sub, "org": "org-a", "roles": ["member"]}
    headers = {"kid": kid} if kid else None
    return jwt.encode({**claims, "exp": int(time.time()) + 60}, key, algorithm="ES256", headers=headers)


async def test_the_key_set_is_fetched_once_for_many_verifications(provider: Provider) -> None:
    key = provider.add_key("k1")
    verifier = jwks_verifier(provider, Clock())

    together = await asyncio.gather(*(verifier.verify(signed(key, "k1", f"u{i}")) for i in range(20)))
    one_by_one = [await verifier.verify(signed(key, "k1", f"v{i}")) for i in range(20)]

    assert [p.sub for p in together] == [f"u{i}" for i in range(20)]
    assert [p.sub for p in one_by_one] == [f"v{i}" for i in range(20)]
    assert provider.fetches == 1


async def test_a_token_signed_by_a_new_key_fetches_the_set_again_and_verifies(provider: Provider) -> None:
    old = provider.add_key("k1")
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    await verifier.verify(signed(old, "k1"))

    new = provider.add_key("k2")  # the provider rotates its keys
    clock.now += INTERVAL

    principal = await verifier.verify(signed(new, "k2", "u2"))
    assert principal.sub == "u2"
    assert provider.fetches == 2
    await verifier.verify(signed(old, "k1"))
    assert provider.fetches == 2


async def test_unknown_key_ids_fetch_the_set_at_most_once_per_interval(provider: Provider) -> None:
    key = provider.add_key("k1")
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    await verifier.verify(signed(key, "k1"))
    clock.now += INTERVAL
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = [signed(stranger, f"made-up-{i}") for i in range(20)]

    together = await asyncio.gather(*(verifier.verify(t) for t in forged), return_exceptions=True)
    for token in forged:
        with pytest.raises(InvalidToken, match="no key for the token's key id"):
            await verifier.verify(token)
    clock.now += INTERVAL - 1
    with pytest.raises(InvalidToken):
        await verifier.verify(forged[0])

    assert all(isinstance(outcome, InvalidToken) for outcome in together)
    assert provider.fetches == 2
    clock.now += 1
    with pytest.raises(InvalidToken):
        await verifier.verify(forged[0])
    assert provider.fetches == 3


@pytest.mark.parametrize("failure", ["server error", "not json", "not a key set", "down"])
async def test_when_the_provider_fails_the_cached_keys_go_on_serving(
    provider: Provider, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = provider.add_key("k1")
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    await verifier.verify(signed(key, "k1"))
    if failure == "server error":
        provider.status = 500
    elif failure == "not json":
        provider.body = b"<html>maintenance</html>"
    elif failure == "not a key set":
        provider.body = b'{"keys": []}'
    else:
        provider.stop()
    clock.now += MAX_AGE  # the cached set is old: the next request refreshes it, in the background

    assert (await verifier.verify(signed(key, "k1"))).sub == "u1"
    with caplog.at_level(logging.WARNING, logger="shared.auth.jwks"):
        # A new key id waits for that refresh, and learns that the provider cannot tell.
        with pytest.raises(KeysUnavailable):
            await verifier.verify(signed(ec.generate_private_key(ec.SECP256R1()), "k2"))
    assert (await verifier.verify(signed(key, "k1", "u2"))).sub == "u2"

    assert [r.getMessage() for r in caplog.records if "JWKS fetch" in r.getMessage()] != []
    assert not any("u1" in r.getMessage() or "u2" in r.getMessage() for r in caplog.records)


async def test_a_key_the_provider_withdrew_stops_verifying_once_the_set_is_refreshed(
    provider: Provider,
) -> None:
    withdrawn, kept = provider.add_key("k1"), provider.add_key("k2")
    clock = Clock()
    verifier = jwks_verifier(provider, clock)
    await verifier.verify(signed(withdrawn, "k1"))
    provider.keys = provider.keys[1:]
    clock.now += MAX_AGE

    await verifier.verify(signed(withdrawn, "k1"))  # served from the cache while it refreshes
    with pytest.raises(InvalidToken):  # waits for the refresh
        await verifier.verify(signed(withdrawn, "k3"))

    with pytest.raises(InvalidToken):
        await verifier.verify(signed(withdrawn, "k1"))
    assert (await verifier.verify(signed(kept, "k2"))).sub == "u1"


async def test_a_token_without_a_key_id_may_use_the_only_key_of_the_set(provider: Provider) -> None:
    key = provider.add_key("k1")
    assert (await jwks_verifier(provider, Clock()).verify(signed(key, None))).sub == "u1"

    provider.add_key("k2")
    with pytest.raises(InvalidToken, match="names no key id"):
        await jwks_verifier(provider, Clock()).verify(signed(key, None))


async def test_fetching_the_key_set_uses_no_thread_and_never_stalls_the_event_loop(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = provider.add_key("k1")
    verifier = jwks_verifier(provider, Clock())
    loop = asyncio.get_running_loop()
    in_threads: list[object] = []

    def run_in_executor(executor: object, func: object, *args: object) -> None:
        in_threads.append(func)
        raise AssertionError("the key set is fetched in a thread")

    monkeypatch.setattr(loop, "run_in_executor", run_in_executor)
    provider.answer.clear()  # the provider is slow to answer
    arrived = asyncio.Event()
    provider.on_request = lambda: loop.call_soon_threadsafe(arrived.set)

    verifying = asyncio.create_task(verifier.verify(signed(key, "k1")))
    await asyncio.wait_for(arrived.wait(), timeout=5)
    others_ran = await asyncio.wait_for(asyncio.sleep(0, result=True), timeout=5)

    assert others_ran and not verifying.done()
    provider.answer.set()
    assert (await verifying).sub == "u1"
    assert in_threads == []


def app_with(verifier: TokenVerifier) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.verifier = verifier
    install_problem_handlers(app)

    @app.get("/me")
    async def get_me(principal: CurrentPrincipal) -> str:
        return principal.sub

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


async def test_with_no_keys_and_the_provider_down_a_caller_is_asked_to_retry(provider: Provider) -> None:
    key = provider.add_key("k1")
    provider.stop()

    async with app_with(jwks_verifier(provider, Clock())) as client:
        answer = await client.get("/me", headers={"authorization": f"Bearer {signed(key, 'k1')}"})

    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == str(int(INTERVAL))
    assert answer.json()["title"] == "Service Unavailable"


async def test_a_token_nobody_signed_is_still_a_401_problem(provider: Provider) -> None:
    provider.add_key("k1")
    stranger = ec.generate_private_key(ec.SECP256R1())

    async with app_with(jwks_verifier(provider, Clock())) as client:
        answers = [
            await client.get("/me", headers={"authorization": f"Bearer {token}"})
            for token in (signed(stranger, "k1"), signed(stranger, "k9"), "not.a.token")
        ]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert {a.headers["content-type"] for a in answers} == {"application/problem+json"}


async def test_an_rs256_key_set_verifies_too(provider: Provider) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    provider.keys = [{**jwk, "kid": "r1", "alg": "RS256", "use": "sig"}]
    claims = {"iss": DEV_ISSUER, "aud": AUDIENCE, "sub": "u1", "org": "org-a", "roles": ["member"]}
    token = jwt.encode(
        {**claims, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "r1"}
    )

    principal: Principal = await jwks_verifier(provider, Clock()).verify(token)

    assert (principal.sub, principal.org) == ("u1", "org-a")
