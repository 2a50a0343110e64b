"""The responder console's live stream: it resumes after a break and stays inside the organization.
The page itself is tested in a real browser in tests/e2e/test_console_*.py."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from shared.auth.principal import Role
from tests.conftest import Tokens
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
