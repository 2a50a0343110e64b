"""The in-app inbox page in headless Chromium: a notification caused while it is open appears without a
reload, is marked read on the server, a dropped stream resumes with nothing missed and nothing twice,
and nobody else's notification ever shows."""

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from playwright.async_api import Browser, Page, Request, async_playwright, expect

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, eventually, joined

pytestmark = pytest.mark.e2e

STREAM = "/me/notifications/stream"


@pytest.fixture
def orgs(network: Stack) -> Iterator[tuple[str, str]]:
    """Two organizations of this test's own, joined to the running network: nothing else is in them."""
    ids = (f"inbox-{new_id()[-12:]}", f"inbox-{new_id()[-12:]}")
    organizations = [{"id": org, "name": f"Inbox {org}", "region": "lakeshore"} for org in ids]
    with joined(network.network_file, [], organizations):
        yield ids


class Cable:
    """A TCP forwarder to a service that the test can unplug: the connections open through it are cut
    (as a network drop cuts them) and new ones are refused until it is plugged in again. Chromium's
    offline emulation is no use here: it leaves a response that is already streaming alone."""

    def __init__(self, port: int) -> None:
        self.port, self.plugged, self.url = port, True, ""
        self._open: set[asyncio.StreamWriter] = set()

    async def link(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if not self.plugged:
            client.transport.abort()
            return
        service_reader, service = await asyncio.open_connection("127.0.0.1", self.port)
        self._open |= {client, service}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, service), pipe(service_reader, client))
        self._open -= {client, service}

    def unplug(self) -> None:
        self.plugged = False
        for writer in self._open:
            writer.transport.abort()

    def plug(self) -> None:
        self.plugged = True


@pytest.fixture
async def cable(network: Stack) -> AsyncIterator[Cable]:
    """A cable to the notifications service; the browser reaches the service through `cable.url`."""
    cable = Cable(network.service_ports["notifications"])
    server = await asyncio.start_server(cable.link, "127.0.0.1", 0)
    cable.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield cable
    cable.unplug()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        await browser.close()


async def escalate(admin_nc: NatsClient, org: str, responder: str) -> str:
    """A crisis case of `org` escalates to `responder`, as the crisis service would say; its case id."""
    case_id = new_id()
    event = CrisisEscalated.create(
        source="crisis",
        org=org,
        subject=case_id,
        data=CrisisEscalatedData(case_id=case_id, level=1, severity="high", responder_ids=[responder]),
    )
    body, headers = event.model_dump_json().encode(), {"Nats-Msg-Id": event.id}
    await admin_nc.jetstream().publish(event.nats_subject(), body, headers=headers)
    return case_id


async def sign_in(page: Page, url: str, headers: dict[str, str]) -> None:
    await page.goto(f"{url}/notifications/inbox")
    await page.get_by_label("Access token").fill(headers["Authorization"].removeprefix("Bearer "))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#status")).to_have_text("Connected", timeout=10_000)


async def server_inbox(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[dict[str, str]]:
    r = await http.get(f"{url}/me/notifications", headers=headers)
    r.raise_for_status()
    return list(r.json())


async def unread_on_server(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    r = await http.get(f"{url}/me/notifications/unread-count", headers=headers)
    return int(r.json()["unread"])


async def test_a_notification_appears_live_is_marked_read_and_the_stream_resumes_after_a_drop(
    network: Stack,
    orgs: tuple[str, str],
    tokens: Tokens,
    http: httpx.AsyncClient,
    admin_nc: NatsClient,
    browser: Browser,
    cable: Cable,
) -> None:
    url, org = network.url("notifications"), orgs[0]
    responder = tokens("inbox-responder", org, Role.RESPONDER)
    OUTPUT.mkdir(exist_ok=True)
    context = await browser.new_context()
    page = await context.new_page()
    streams: list[Request] = []

    def on_request(request: Request) -> None:
        if request.url.endswith(STREAM):
            streams.append(request)

    page.on("request", on_request)
    await sign_in(page, cable.url, responder)
    items, unread = page.locator("#items > li"), page.locator("#unread-count")
    await expect(unread).to_have_text("0")
    await expect(page.get_by_text("No notifications yet.")).to_be_visible()

    # A case escalates to the responder while the page is open: it arrives without a reload.
    first_case = await escalate(admin_nc, org, "inbox-responder")
    first = items.filter(has_text=first_case)
    await expect(first).to_have_count(1, timeout=15_000)
    await expect(unread).to_have_text("1")
    await expect(first).to_have_class(re.compile(r"\bpriority-critical\b.*\bunread\b"))
    await expect(first.locator(".priority")).to_have_text("Critical")
    await expect(first.get_by_role("link", name="Open")).to_have_attribute(
        "href", re.compile(rf"/crisis/console#case-{first_case}$")
    )
    await expect(page.locator("#announcer")).to_contain_text("New critical notification: Crisis escalation")
    (on_server,) = await server_inbox(http, url, responder)
    await expect(first).to_have_attribute("data-id", on_server["id"])
    await page.screenshot(path=str(OUTPUT / "inbox-live.png"), full_page=True)

    # Marked read with the keyboard: the badge and the server agree.
    await first.get_by_role("button", name="Mark read").focus()
    await page.keyboard.press("Enter")
    await expect(unread).to_have_text("0")
    await expect(first.get_by_role("button", name="Mark read")).to_be_hidden()
    assert await unread_on_server(http, url, responder) == 0

    # The connection drops; a second case escalates while the page is cut off.
    cable.unplug()
    await expect(page.locator("#status")).to_have_text("Reconnecting…", timeout=10_000)
    second_case = await escalate(admin_nc, org, "inbox-responder")
    await eventually(functools.partial(_has, http, url, responder, second_case))
    await expect(items).to_have_count(1)
    await page.screenshot(path=str(OUTPUT / "inbox-reconnecting.png"), full_page=True)

    # Plugged in again, the page resumes after the last event it saw and shows each item exactly once.
    cable.plug()
    await expect(page.locator("#status")).to_have_text("Connected", timeout=15_000)
    await expect(items.filter(has_text=second_case)).to_have_count(1, timeout=15_000)
    await expect(items).to_have_count(2)
    assert sorted(await items.evaluate_all("lis => lis.map(li => li.dataset.id)")) == sorted(
        n["id"] for n in await server_inbox(http, url, responder)
    )
    await expect(items.first).to_contain_text(second_case)  # newest first
    await expect(unread).to_have_text("1")
    resumed_from = await streams[-1].header_value("last-event-id")
    assert resumed_from is not None and resumed_from.endswith(f"|{on_server['id']}")
    await page.screenshot(path=str(OUTPUT / "inbox-resumed.png"), full_page=True)

    await page.get_by_role("button", name="Mark all read").click()
    await expect(unread).to_have_text("0")
    assert await unread_on_server(http, url, responder) == 0
    await context.close()


async def _has(http: httpx.AsyncClient, url: str, headers: dict[str, str], case_id: str) -> bool:
    return any(case_id in n["body"] for n in await server_inbox(http, url, headers))


async def test_another_persons_notifications_never_appear_on_the_page(
    network: Stack,
    orgs: tuple[str, str],
    tokens: Tokens,
    http: httpx.AsyncClient,
    admin_nc: NatsClient,
    browser: Browser,
) -> None:
    url, (org, other_org) = network.url("notifications"), orgs
    me = tokens("inbox-me", org, Role.RESPONDER)
    colleague = tokens("inbox-colleague", org, Role.RESPONDER)
    namesake = tokens("inbox-me", other_org, Role.RESPONDER)  # the same user id, in another organization
    # On a phone: the page must fit a narrow screen too.
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    await sign_in(page, url, me)

    others = [
        await escalate(admin_nc, org, "inbox-colleague"),
        await escalate(admin_nc, other_org, "inbox-me"),
    ]
    for headers, case_id in zip((colleague, namesake), others, strict=True):
        await eventually(functools.partial(_has, http, url, headers, case_id))
    mine = await escalate(admin_nc, org, "inbox-me")

    items = page.locator("#items > li")
    await expect(items.filter(has_text=mine)).to_have_count(1, timeout=15_000)
    await page.wait_for_timeout(3_000)  # longer than the stream's look at the store (2 s)
    await expect(items).to_have_count(1)
    await expect(page.locator("#unread-count")).to_have_text("1")
    for case_id in others:
        await expect(page.get_by_text(case_id)).to_have_count(0)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=str(OUTPUT / "inbox-phone.png"), full_page=True)
    await context.close()
