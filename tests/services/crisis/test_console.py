"""The responder console: its live stream resumes after a break, stays inside the organization,
and the page works in a real (headless) Chromium."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from playwright.async_api import async_playwright

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, eventually
from tests.services.crisis.conftest import raise_alert


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Frames of a server-sent event stream, as {"id", "event", "data"}; comments are skipped."""
    frame: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            frame[name] = json.loads(value) if name == "data" else value.strip()


async def first_event_of(stream: AsyncIterator[dict[str, Any]], case_id: str, type_: str) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        async for frame in stream:
            if frame["event"] == type_ and frame["data"]["data"]["case_id"] == case_id:
                return frame
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(find(), timeout=15)


async def test_the_stream_resumes_after_the_last_event_seen(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = f"{fast_protocol}/crisis/console/events"
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    async with http.stream("GET", url, headers=responder, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = await raise_alert(http, fast_protocol, tokens)
        seen = await first_event_of(sse_events(response), first["id"], "crisis.escalated.v1")

    # While the console is away, another case opens; reconnecting with Last-Event-ID replays it.
    missed = await raise_alert(http, fast_protocol, tokens)
    headers = {**responder, "Last-Event-ID": seen["id"]}
    async with http.stream("GET", url, headers=headers, timeout=30) as response:
        replayed = await first_event_of(sse_events(response), missed["id"], "crisis.raised.v1")
    assert int(replayed["id"]) > int(seen["id"])


async def test_another_organizations_responder_sees_nothing_of_a_case(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    stranger = tokens("esc-1", "org-b", Role.RESPONDER)  # the same user id, in another organization
    admin_b = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    base = f"{fast_protocol}/crisis/cases/{case['id']}"
    for method, path, headers, body in (
        ("GET", "", stranger, None),
        ("GET", "/notes", stranger, None),
        ("GET", "/audit", admin_b, None),
        ("POST", "/acknowledge", stranger, None),
        ("POST", "/resolve", stranger, {"outcome": "safe", "referral": "none"}),
        ("POST", "/cancel", stranger, {"reason": "other"}),
        ("POST", "/notes", stranger, {"text": "x"}),
    ):
        r = await http.request(method, base + path, headers=headers, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    listed = (await http.get(f"{fast_protocol}/crisis/cases", headers=stranger)).json()
    assert case["id"] not in {c["id"] for c in listed}

    # Nor does their console stream carry any of org-a's events.
    async with http.stream(
        "GET", f"{fast_protocol}/crisis/console/events", headers=stranger, timeout=30
    ) as r:
        other = await raise_alert(http, fast_protocol, tokens)
        leaked: list[dict[str, Any]] = []

        async def collect() -> None:
            async for frame in sse_events(r):
                leaked.append(frame)

        task = asyncio.create_task(collect())
        await asyncio.sleep(2)
        task.cancel()
    assert not [f for f in leaked if f["data"]["data"]["case_id"] == other["id"]]
    assert all(f["data"]["org"] == "org-b" for f in leaked)


async def test_the_console_shows_a_live_escalation_in_chromium_and_acknowledges_it(
    fast_protocol: str, network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    token = tokens("esc-2", "org-a", Role.RESPONDER)["Authorization"].removeprefix("Bearer ")
    OUTPUT.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(f"{fast_protocol}/crisis/console")
            await page.fill("#token", token)
            await page.click("#signin-button")
            await page.wait_for_selector("#status.live", timeout=10_000)

            # A member reaches out while the page is open; level 1 arrives, then (3 s later, nobody
            # having acknowledged) the live escalation to level 2, esc-2, the signed-in responder.
            case = await raise_alert(http, fast_protocol, tokens)
            card = page.locator(f'.case[data-case-id="{case["id"]}"]')
            await card.wait_for(timeout=10_000)
            level_two = page.locator(f'#feed li[data-case-id="{case["id"]}"]', has_text="level 2")
            await level_two.wait_for(timeout=15_000)
            await page.screenshot(path=str(OUTPUT / "crisis-console.png"), full_page=True)

            await card.get_by_role("button", name="Acknowledge").click()
            await page.locator(f'.case.acknowledged[data-case-id="{case["id"]}"]').wait_for(timeout=10_000)
        finally:
            await browser.close()

    responder = tokens("esc-2", "org-a", Role.RESPONDER)

    async def acknowledged_by_the_page() -> bool:
        r = await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)
        return bool(r.json()["acknowledged_by"] == "esc-2")

    await eventually(acknowledged_by_the_page)
    assert (OUTPUT / "crisis-console.png").stat().st_size > 10_000
