"""Signing in to the console: a session cookie no script can read, CSRF on every change, renewal,
and no development sign-in in production."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from deploy.local.stack import Stack, free_port
from services.crisis.settings import Settings
from shared.auth.devkeys import mint_token
from shared.auth.oidc import OidcClient, ProviderUnavailable
from shared.auth.principal import Role
from shared.auth.session import CSRF_HEADER, SESSION_COOKIE


@asynccontextmanager
async def signed_in(network: Stack, user: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=network.url("crisis"), timeout=10) as client:
        answer = await client.post("/crisis/console/sign-in", data={"user": user, "next": "/crisis/console"})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/crisis/console"
        yield client


async def test_the_sign_in_page_lists_the_demo_users_who_work_cases_and_no_member(network: Stack) -> None:
    async with httpx.AsyncClient(base_url=network.url("crisis")) as client:
        page = await client.get("/crisis/console/sign-in")
    assert page.status_code == 200
    assert 'value="a-responder-1"' in page.text and 'value="a-coordinator"' in page.text
    assert 'value="a-member"' not in page.text


async def test_signing_in_sets_an_http_only_session_that_the_api_accepts(network: Stack) -> None:
    async with signed_in(network, "a-responder-1") as client:
        cookie = next(c for c in client.cookies.jar if c.name == SESSION_COOKIE)
        assert cookie.has_nonstandard_attr("HttpOnly")
        session = (await client.get("/crisis/console/session")).json()
        assert (session["sub"], session["org"], session["roles"]) == ("a-responder-1", "org-a", ["responder"])
        assert session["renewable"] is True and session["expires_at"]
        assert (await client.get("/crisis/cases")).status_code == 200


async def test_a_change_made_with_the_cookie_and_without_the_csrf_token_is_refused(network: Stack) -> None:
    async with signed_in(network, "a-responder-1") as client:
        csrf = (await client.get("/crisis/console/session")).json()["csrf_token"]
        refused = await client.post("/crisis/cases/some-case/acknowledge", json={})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        wrong = await client.post(
            "/crisis/cases/some-case/acknowledge", json={}, headers={CSRF_HEADER: "0" * 64}
        )
        assert wrong.status_code == 403
        let_through = await client.post(
            "/crisis/cases/some-case/acknowledge", json={}, headers={CSRF_HEADER: csrf}
        )
        assert let_through.status_code == 404  # past the CSRF check: there is no such case


async def test_renewing_gives_a_new_token_and_csrf_token_and_signing_out_ends_the_session(
    network: Stack,
) -> None:
    async with signed_in(network, "a-coordinator") as client:
        before = (await client.get("/crisis/console/session")).json()
        assert (await client.post("/crisis/console/session/renew")).status_code == 403
        renewed = await client.post(
            "/crisis/console/session/renew", headers={CSRF_HEADER: before["csrf_token"]}
        )
        assert renewed.status_code == 200, renewed.text
        after = renewed.json()
        assert after["sub"] == "a-coordinator" and after["expires_at"] >= before["expires_at"]
        assert (await client.get("/crisis/console/session")).json()["csrf_token"] == after["csrf_token"]
        out = await client.post("/crisis/console/sign-out", headers={CSRF_HEADER: after["csrf_token"]})
        assert out.status_code == 204
        assert (await client.get("/crisis/console/session")).status_code == 401


async def test_sign_in_refuses_other_users_and_never_redirects_to_another_site(network: Stack) -> None:
    async with httpx.AsyncClient(base_url=network.url("crisis")) as client:
        member = await client.post("/crisis/console/sign-in", data={"user": "a-member"})
        assert member.status_code == 422
        away = await client.post(
            "/crisis/console/sign-in", data={"user": "a-responder-1", "next": "//evil.test/"}
        )
        assert away.headers["location"] == "/crisis/console"


def test_production_refuses_the_development_sign_in(tmp_path: Path) -> None:
    users, key = tmp_path / "users.json", tmp_path / "key.pem"
    with pytest.raises(ValidationError, match="demo sign-in"):
        Settings(
            environment="production",
            jwks_url="https://id.example.org/jwks",
            notes_master_key="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
            console_session_secret="a-real-secret",
            public_url="https://crisis.example.org",
            demo_users_file=users,
            dev_signing_key_file=key,
        )


async def test_the_live_stream_ends_when_the_token_that_opened_it_expires(network: Stack) -> None:
    token = mint_token(
        network.private_key, sub="a-responder-1", org="org-a", roles=[Role.RESPONDER], ttl_seconds=2
    )
    async with httpx.AsyncClient(base_url=network.url("crisis"), timeout=15) as client:
        async with client.stream(
            "GET", "/crisis/console/events", headers={"Authorization": f"Bearer {token}"}
        ) as stream:
            assert stream.status_code == 200
            # The whole body arrives: the server closed the stream, well before its keep-alive.
            body = await asyncio.wait_for(stream.aread(), timeout=8)
        assert body.startswith(b"retry:")
        again = await client.get("/crisis/console/events", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 401


async def test_only_a_live_session_is_renewed(network: Stack) -> None:
    async with httpx.AsyncClient(base_url=network.url("crisis")) as client:
        assert (await client.post("/crisis/console/session/renew")).status_code == 401


async def test_an_identity_provider_that_cannot_be_reached_is_an_outage_not_a_refusal() -> None:
    client = OidcClient(
        issuer=f"http://127.0.0.1:{free_port()}", client_id="rn", client_secret=None, scopes="openid",
        redirect_uri="http://127.0.0.1/cb",
    )  # fmt: skip
    with pytest.raises(ProviderUnavailable):
        await client.refresh("a-refresh-token")
