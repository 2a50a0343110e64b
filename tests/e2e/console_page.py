"""What the console's browser tests share: a crisis process of their own on the session's network, whose
sign-in page offers their own demo users in organizations of their own; signing in through that page;
the organization's crisis set-up over HTTP; and numbered screenshots of each step."""

import json
import re
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy
from playwright.async_api import Browser, Page, async_playwright, expect

from contracts.ids import new_id
from deploy.local.seed import DemoUser
from deploy.local.stack import Stack, free_port
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, joined, put_staff

LONG = 240.0  # minutes: no level times out while a test looks


@dataclass(frozen=True)
class Console:
    url: str  # the crisis process serving the console (and the API under it)


@contextmanager
def console_process(
    network: Stack, orgs: list[str], users: list[DemoUser], env: dict[str, str] | None = None
) -> Iterator[Console]:
    """A crisis process for the module: `orgs` joined to the network, `users` on its sign-in page, its
    settings overridden by `env` (a short session, say). The same database and NATS as the network's
    own crisis service, so what it does is what the network does."""
    users_file = network.data_dir / f"console-users-{new_id()[-10:]}.json"
    users_file.write_text(json.dumps([asdict(u) for u in users]))
    organizations = [{"id": org, "name": org, "region": "lakeshore"} for org in orgs]
    with joined(network.network_file, [], organizations):
        port = free_port()
        key = network.start_replica("crisis", port, {"RN_DEMO_USERS_FILE": str(users_file), **(env or {})})
        try:
            yield Console(url=f"http://127.0.0.1:{port}")
        finally:
            network.kill(key, signal.SIGTERM)
            users_file.unlink(missing_ok=True)


def new_org(prefix: str) -> str:
    return f"{prefix}-{new_id()[-10:]}"


class Shots:
    """Screenshots numbered in the order of the story: test-output/console/<test>/NN-step.png."""

    def __init__(self, test_name: str) -> None:
        self.folder = OUTPUT / "console" / re.sub(r"[^A-Za-z0-9_-]", "_", test_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    async def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


async def sign_in(page: Page, console: Console, user: str) -> None:
    """Open the console without a session: it sends the browser to the sign-in page, where the demo
    user is chosen, and back; the live stream connects."""
    await page.goto(f"{console.url}/crisis/console")
    await page.wait_for_url(re.compile(r"/crisis/console/sign-in\?next="))
    await page.locator(f'button[name="user"][value="{user}"]').click()
    await page.wait_for_url(re.compile(r"/crisis/console(#.*)?$"))
    await expect(page.locator("#status")).to_have_text("Connected", timeout=15_000)
    await expect(page.locator("#who-sub")).to_have_text(user)


async def set_up_org(
    http: httpx.AsyncClient,
    console: Console,
    tokens: Tokens,
    org: str,
    staff: dict[str, list[str]],
    levels: list[dict[str, Any]],
    roster: list[str] | None = None,
) -> dict[str, str]:
    """The organization's staff, optionally an `oncall` roster, and its protocol, as its org admin
    puts them over HTTP; returns the admin's headers."""
    admin = tokens(f"{org}-admin", org, Role.ORG_ADMIN)
    await put_staff(http, console.url, admin, staff)
    if roster is not None:
        r = await http.put(
            f"{console.url}/crisis/rosters/oncall",
            json={"responder_ids": roster, "rotation_start": "2026-01-05T09:00"},
            headers=admin,
        )
        assert r.status_code == 204, r.text
    protocol = {
        "levels": [{"timeout_minutes": LONG, **level} for level in levels],
        "catch_all_timeout_minutes": LONG,
        "ack_timeout_minutes": LONG,
        # Every severity starts at the first level (by default imminent risk skips to the second).
        "start_levels": dict.fromkeys(("low", "moderate", "high", "imminent"), 1),
    }
    r = await http.put(f"{console.url}/crisis/protocol", json=protocol, headers=admin)
    assert r.status_code == 204, r.text
    return admin


async def raise_alert(
    http: httpx.AsyncClient, console: Console, tokens: Tokens, org: str, severity: str = "high"
) -> dict[str, Any]:
    """A member of `org` (a new one each time, so no open case absorbs it) reaches out."""
    member = tokens(f"member-{new_id()[-10:]}", org, Role.MEMBER)
    r = await http.post(f"{console.url}/crisis/alerts", json={"severity": severity}, headers=member)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def crisis_stream_ids(nc: NatsClient, org: str, after: int) -> list[str]:
    """The stream ids (sequences) of `org`'s crisis events stored after sequence `after`, in order: what
    the console's live stream sends, since it reads that stream. Stored messages come in one burst, so
    half a second without one means there are no more."""
    sub = await nc.jetstream().subscribe(
        f"rn.{org}.crisis.>",
        stream="CRISIS",
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1),
    )
    ids: list[str] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            ids.append(str(msg.metadata.sequence.stream))
    except nats.errors.TimeoutError:
        return ids
    finally:
        await sub.unsubscribe()
