"""The console's session ending mid-shift, in headless Chromium: the crisis process here signs people
in for 30 seconds and refuses to renew, so the page must warn, then ask the responder to sign in
again; after they have, its live feed holds every event of their organization exactly once, those
raised while they were signed out included. Before the refusal, a renewal answered 503 (the identity
provider cannot be reached) keeps the session and the stream while the page tries again.
Screenshots: test-output/console/<test>/."""

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from playwright.async_api import Browser, Locator, Page, Request, Route, expect

from deploy.local.seed import DemoUser
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.e2e.console_page import (
    Console,
    Shots,
    chromium,
    console_process,
    crisis_stream_ids,
    new_org,
    raise_alert,
    set_up_org,
    sign_in,
)
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

ORG = new_org("console-session")
USERS = [DemoUser("night-responder", ORG, (Role.RESPONDER,), "Night responder")]
SESSION = {"RN_CONSOLE_SESSION_MINUTES": "0.5", "RN_CONSOLE_RENEWAL": "false"}
EVENTS = "/crisis/console/events"
RENEW = "**/crisis/console/session/renew"
SESSION_ROUTE = "**/crisis/console/session"


@pytest.fixture(scope="module")
def console(network: Stack) -> Iterator[Console]:
    with console_process(network, [ORG], USERS, SESSION) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def four_events_stored(nc: NatsClient, after_seq: int) -> bool:
    return len(await crisis_stream_ids(nc, ORG, after_seq)) == 4


def events_of(page: Page, case_id: str) -> Locator:
    return page.locator(f'#feed > li[data-case-id="{case_id}"]')


async def test_after_the_session_ends_and_the_responder_signs_in_again_no_event_is_lost_or_shown_twice(
    console: Console,
    browser: Browser,
    tokens: Tokens,
    http: httpx.AsyncClient,
    admin_nc: NatsClient,
    request: pytest.FixtureRequest,
) -> None:
    shots = Shots(request.node.name)
    staff = {"night-responder": ["responder", "coordinator"]}
    await set_up_org(http, console, tokens, ORG, staff, [{"responder_ids": ["night-responder"]}])
    after_seq = (await admin_nc.jetstream().stream_info("CRISIS")).state.last_seq
    context = await browser.new_context()
    page = await context.new_page()
    streams: list[Request] = []
    page.on("request", lambda r: r.url.endswith(EVENTS) and streams.append(r))

    # First the service is one that renews, but its identity provider cannot be reached (a 503 with
    # Retry-After, as the service answers then): the session says it is renewable, each renewal is
    # refused with a 503.
    served_renewable: list[bool] = []
    unavailable: list[Request] = []

    async def renewable_session(route: Route) -> None:
        served = await route.fetch()
        if served.status != 200:  # not signed in yet
            return await route.fulfill(response=served)
        session = await served.json()
        served_renewable.append(session["renewable"])
        await route.fulfill(response=served, json={**session, "renewable": True})

    async def provider_down(route: Route) -> None:
        unavailable.append(route.request)
        problem = '{"title": "Service Unavailable", "status": 503, "detail": "the identity provider"}'
        await route.fulfill(
            status=503, headers={"Retry-After": "1"}, content_type="application/problem+json", body=problem
        )

    await page.route(SESSION_ROUTE, renewable_session)
    await page.route(RENEW, provider_down)
    await sign_in(page, console, "night-responder")
    assert served_renewable and not any(served_renewable)  # this service itself never renews

    # Before: an alert's events arrive live (raised, then escalated to this responder).
    before = await raise_alert(http, console, tokens, ORG)
    await expect(events_of(page, before["id"])).to_have_count(2, timeout=15_000)
    await shots(page, "before")

    # The session and the stream go on, nobody is asked to sign in, and the renewal is tried again.
    banner = page.locator("#session-banner-text")
    await expect(banner).to_contain_text("The sign-in service does not answer", timeout=30_000)
    await expect(page.locator("#session-banner-link")).to_be_hidden()

    async def tried_again() -> bool:
        return len(unavailable) >= 2

    await eventually(tried_again)
    await expect(page.locator("#status")).to_have_text("Connected")
    await shots(page, "provider-unreachable")

    # Then the service answers for itself, and refuses: the page says so while the session still
    # works, then that it ended.
    await page.unroute(RENEW, provider_down)
    await page.unroute(SESSION_ROUTE, renewable_session)
    await expect(banner).to_contain_text("cannot be renewed - sign in again", timeout=30_000)
    await expect(page.locator("#status")).to_have_text("Connected")
    await shots(page, "renewal-refused")
    await expect(banner).to_have_text("Your session ended - sign in again", timeout=40_000)
    await expect(page.locator("#status")).to_have_text("Signed out")
    assert (await page.evaluate("fetch('/crisis/cases').then(r => r.status)")) == 401
    await shots(page, "session-ended")

    # While signed out: an alert the page cannot see yet.
    during = await raise_alert(http, console, tokens, ORG)
    await eventually(lambda: four_events_stored(admin_nc, after_seq))
    await expect(events_of(page, during["id"])).to_have_count(0)

    # Signed in again from the banner's link: the stream resumes after the last event seen.
    last_seen = await page.locator("#feed > li").first.get_attribute("data-event-id")
    opened_before = len(streams)
    await page.get_by_role("link", name="Sign in again").click()
    await page.wait_for_url(re.compile(r"/crisis/console/sign-in\?next="))
    await page.locator('button[name="user"][value="night-responder"]').click()
    await expect(page.locator("#status")).to_have_text("Connected", timeout=15_000)
    await expect(page.locator("#session-banner")).to_be_hidden()
    await expect(events_of(page, during["id"])).to_have_count(2, timeout=15_000)
    assert await streams[0].header_value("last-event-id") is None
    assert await streams[opened_before].header_value("last-event-id") == last_seen

    # After: live again.
    after = await raise_alert(http, console, tokens, ORG)
    await expect(events_of(page, after["id"])).to_have_count(2, timeout=15_000)
    await shots(page, "signed-in-again")

    # Every event of the organization on the stream since the page opened, each shown exactly once.
    on_stream = await crisis_stream_ids(admin_nc, ORG, after_seq)
    shown = await page.locator("#feed > li").evaluate_all("lis => lis.map(li => li.dataset.eventId)")
    assert len(on_stream) == 6
    assert sorted(shown, key=int) == on_stream, (shown, on_stream)
    for case in (before, during, after):
        await expect(events_of(page, case["id"]).filter(has_text="Reaches you")).to_have_count(1)
    await context.close()
