"""The console's OpenID Connect sign-in against a real provider (oidc-provider, tests/oidc/provider.mjs),
in headless Chromium: a responder opens the console, signs in at the provider (its login and consent
pages), and works in a session made of the provider's token, renewed with its refresh token; a return
from the provider whose state is not the one the sign-in started with is refused.

The provider is on `localhost` and the console on `127.0.0.1`: two sites, as in production, so the
cookies' SameSite rules are tested as they will be met. Screenshots: test-output/console-oidc/.
"""

import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import jwt
import pytest
from playwright.async_api import Browser, BrowserContext, Cookie, Page, expect

from deploy.local.stack import REPO, Stack, free_port, port_open, wait_for
from tests.conftest import OUTPUT
from tests.e2e.console_page import chromium
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

PROVIDER = REPO / "tests" / "oidc" / "provider.mjs"
SUB, ORG = "oidc-responder", "org-a"  # the responder signing in
INTRUDER = "oidc-intruder"  # someone else with an account at the same provider
ACCOUNTS = {
    SUB: {"org": ORG, "roles": ["responder"], "name": "OIDC Responder"},
    INTRUDER: {"org": "org-b", "roles": ["responder"], "name": "OIDC Intruder"},
}
AUDIENCE = "recovery-network-console-oidc"  # this crisis process's RN_JWT_AUDIENCE, not the stack's
TOKEN_MINUTES = 5
SHOTS = OUTPUT / "console-oidc"


@dataclass(frozen=True)
class SignIn:
    issuer: str  # the provider, on localhost
    console: str  # the crisis process configured for it, on 127.0.0.1


@pytest.fixture(scope="module")
def signin(stack: Stack) -> Iterator[SignIn]:
    """The provider and one crisis process that signs responders in with it (a confidential client:
    how a server-side console is registered; the provider requires PKCE of it all the same)."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the OpenID Connect provider (tests/oidc)"
    assert (PROVIDER.parent / "node_modules" / "oidc-provider").is_dir(), "run `make install` (tests/oidc)"
    provider_port, crisis_port = free_port(), free_port()
    issuer, console = f"http://localhost:{provider_port}", f"http://127.0.0.1:{crisis_port}"
    client_secret = secrets.token_urlsafe(24)
    assert stack.log_dir is not None
    log = (stack.log_dir / "oidc-provider.log").open("ab")
    provider = subprocess.Popen(
        [node, str(PROVIDER)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "OIDC_PORT": str(provider_port),
            "OIDC_ISSUER": issuer,
            "OIDC_REDIRECT_URIS": f"{console}/crisis/console/oidc/callback",
            "OIDC_AUDIENCE": AUDIENCE,
            "OIDC_CLIENT_SECRET": client_secret,
            "OIDC_ACCESS_TOKEN_TTL": str(TOKEN_MINUTES * 60),
            "OIDC_ACCOUNTS": json.dumps(ACCOUNTS),
        },
        start_new_session=True,
    )
    key = None
    try:
        wait_for(lambda: port_open(provider_port), "oidc-provider", 20, provider)
        key = stack.start_replica(
            "crisis",
            crisis_port,
            {
                "RN_OIDC_ISSUER": issuer,
                "RN_OIDC_CLIENT_ID": "rn-console",
                "RN_OIDC_CLIENT_SECRET": client_secret,
                "RN_PUBLIC_URL": console,
                "RN_JWKS_URL": f"{issuer}/jwks",
                "RN_JWT_ISSUER": issuer,
                "RN_JWT_AUDIENCE": AUDIENCE,
            },
        )
        yield SignIn(issuer=issuer, console=console)
    finally:
        if key is not None:
            stack.kill(key, signal.SIGTERM)
        provider.send_signal(signal.SIGTERM)
        provider.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


class Shots:
    """test-output/console-oidc/NN-step.png, numbered in the order of the story."""

    def __init__(self) -> None:
        shutil.rmtree(SHOTS, ignore_errors=True)
        SHOTS.mkdir(parents=True)
        self.count = 0

    async def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        path = SHOTS / f"{self.count:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


async def return_of_another_sign_in(client: httpx.AsyncClient, signin: SignIn, sub: str) -> str:
    """A sign-in as `sub`, driven by `client` from the console's start to the provider's redirect back,
    which is not followed: that URL, with a code and this sign-in's state (whose cookie `client` holds)."""
    answer = await client.get(f"{signin.console}/crisis/console/oidc/login")
    callback = f"{signin.console}/crisis/console/oidc/callback?"
    for _ in range(10):
        location = answer.headers.get("location", "")
        if location.startswith(callback):
            return location
        if answer.is_redirect:
            answer = await client.get(urljoin(str(answer.url), location))
            continue
        form = re.search(r'<form[^>]* action="([^"]+)"', answer.text)
        assert form, answer.text
        login = 'name="login"' in answer.text
        fields = {"prompt": "login", "login": sub, "password": "any"} if login else {"prompt": "consent"}
        answer = await client.post(urljoin(str(answer.url), html.unescape(form.group(1))), data=fields)
    raise AssertionError(f"the provider did not send {sub} back; last answer {answer.status_code}")


async def console_cookies(context: BrowserContext) -> dict[str, Cookie]:
    """Every cookie the console's site holds in the browser, whatever its path."""
    return {c["name"]: c for c in await context.cookies() if c["domain"] == "127.0.0.1"}


def claims_of(token: str) -> dict[str, Any]:
    # Read only: the crisis service verified it against the provider's keys before it became the cookie.
    found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return found


async def test_a_responder_signs_in_at_the_provider_and_the_refresh_token_renews_the_session(
    signin: SignIn, browser: Browser, http: httpx.AsyncClient
) -> None:
    shots = Shots()
    context = await browser.new_context()
    page = await context.new_page()
    visited: list[str] = []
    page.on("request", lambda r: r.is_navigation_request() and visited.append(r.url))

    # Opened without a session, the console sends the person to sign in, which sends them to the provider.
    await page.goto(f"{signin.console}/crisis/console")
    await page.wait_for_url(re.compile(rf"^{re.escape(signin.issuer)}/interaction/"))
    paths = [urlsplit(url).path for url in visited]
    assert paths[:4] == ["/crisis/console", "/crisis/console/sign-in", "/crisis/console/oidc/login", "/auth"]
    authorization = dict(parse_qsl(urlsplit(visited[3]).query))
    assert authorization["code_challenge_method"] == "S256" and authorization["code_challenge"]
    assert authorization["client_id"] == "rn-console"

    # Someone else's return from the provider, with a good code but their sign-in's state (a link an
    # intruder sends, to sign the responder in as themselves): refused, and no session.
    async with httpx.AsyncClient(timeout=10) as intruder:
        crossed = await return_of_another_sign_in(intruder, signin, INTRUDER)
        refused = await page.goto(crossed)
        assert refused is not None and refused.status == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await refused.json())["title"] == "Sign-in expired"
        await shots(page, "crossed-sign-in-refused")
        assert "rn_session" not in await console_cookies(context)
        # The code was good: with its own sign-in's cookie, the return signs the intruder in.
        theirs = await intruder.get(crossed)
        assert theirs.status_code == 303 and claims_of(theirs.cookies["rn_session"])["sub"] == INTRUDER

    # The responder's own sign-in, at the provider's login and consent pages.
    await page.go_back()
    await page.wait_for_url(re.compile(rf"^{re.escape(signin.issuer)}/interaction/"))
    await page.locator('input[name="login"]').fill(SUB)
    await page.locator('input[name="password"]').fill("any password: development interactions")
    await shots(page, "provider-login")
    await page.get_by_role("button", name="Sign-in").click()
    await expect(page.get_by_role("button", name="Continue")).to_be_visible()
    await shots(page, "provider-consent")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"{signin.console}/crisis/console")
    await expect(page.locator("#status")).to_have_text("Connected", timeout=15_000)
    await expect(page.locator("#who-sub")).to_have_text(SUB)
    await shots(page, "console-signed-in")

    cookies = await console_cookies(context)
    assert "rn_oidc" not in cookies  # the sign-in's state and verifier are spent
    session_cookie, refresh_cookie = cookies["rn_session"], cookies["rn_refresh"]
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
    assert refresh_cookie["httpOnly"] and refresh_cookie["path"] == "/crisis/console/session"
    first = claims_of(session_cookie["value"])
    assert (first["iss"], first["aud"], first["sub"]) == (signin.issuer, AUDIENCE, SUB)  # the provider's
    assert not await page.evaluate("document.cookie.includes('rn_')")

    session = await page.evaluate("fetch('/crisis/console/session').then(r => r.json())")
    assert (session["sub"], session["org"], session["roles"]) == (SUB, ORG, ["responder"])
    assert session["renewable"] is True

    # A token issued in a later second, so that its expiry is later too.
    await eventually(lambda: _clock_past(first["iat"] + 1))
    renewal = await page.evaluate(
        """csrf => fetch('/crisis/console/session/renew', {method: 'POST', headers: {'X-CSRF-Token': csrf}})
            .then(async r => ({status: r.status, body: await r.json()}))""",
        session["csrf_token"],
    )
    assert renewal["status"] == 200, renewal
    renewed = renewal["body"]
    assert (renewed["sub"], renewed["org"]) == (SUB, ORG)
    assert datetime.fromisoformat(renewed["expires_at"]) > datetime.fromisoformat(session["expires_at"])
    assert renewed["csrf_token"] != session["csrf_token"]  # keyed to the new token
    fresh_token = (await console_cookies(context))["rn_session"]["value"]
    fresh = claims_of(fresh_token)
    assert fresh_token != session_cookie["value"] and fresh["jti"] != first["jti"]
    assert (fresh["iss"], fresh["aud"], fresh["sub"]) == (signin.issuer, AUDIENCE, SUB)
    reread = await page.evaluate("fetch('/crisis/console/session').then(r => r.json())")
    assert reread["expires_at"] == renewed["expires_at"]
    await expect(page.locator("#status")).to_have_text("Connected")
    await shots(page, "session-renewed")

    # Beside an identity provider the development sign-in does not exist.
    demo = await http.post(
        f"{signin.console}/crisis/console/sign-in", data={"user": "a-responder-1"}, follow_redirects=False
    )
    assert demo.status_code == 404 and "rn_session" not in demo.cookies
    await context.close()


async def _clock_past(moment: float) -> bool:
    return time.time() >= moment
