"""Small test helpers."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

# Debian's chromium, with the flags of DESIGN section 9 (Playwright cannot download a browser here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def eventually(probe: Callable[[], Awaitable[T]], *, within: float = 15.0, interval: float = 0.1) -> T:
    """The first truthy result of `probe`, polled for `within` seconds; fails the test otherwise."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s; last result: {last!r}")


async def put_staff(
    http: httpx.AsyncClient, crisis_url: str, admin: dict[str, str], staff: dict[str, list[str]]
) -> None:
    """Put people on an organization's crisis staff (responder and/or coordinator), as its admin."""
    for person, roles in staff.items():
        r = await http.put(f"{crisis_url}/crisis/staff/{person}", json={"roles": roles}, headers=admin)
        assert r.status_code == 204, r.text


@contextmanager
def joined(
    network_file: Path, regions: list[dict[str, str]], organizations: list[dict[str, str]]
) -> Iterator[None]:
    """Regions and organizations added to a running network for a while, as a network admin adds them:
    the services re-read the network file when it changes. A test that writes a lot under its own
    organizations leaves nothing in those other tests read."""
    original = network_file.read_text()
    document = json.loads(original)
    for key, items in (("regions", regions), ("organizations", organizations)):
        known = {item["id"] for item in document[key]}
        document[key] += [item for item in items if item["id"] not in known]
    network_file.write_text(json.dumps(document))
    try:
        yield
    finally:
        network_file.write_text(original)


class Mailpit:
    """Mailpit's HTTP API (https://mailpit.axllent.org/docs/api-v1/): what the network emailed."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url, self.http = url.rstrip("/"), http

    async def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Summaries (ID, From, To, Cc, Subject, Snippet, Created ...), newest last; with `to`, only
        those addressed to that address (To, Cc or Bcc, compared without case)."""
        params = {"limit": "1000"}
        if to is None:
            r = await self.http.get(f"{self.url}/api/v1/messages", params=params)
        else:
            r = await self.http.get(f"{self.url}/api/v1/search", params={**params, "query": f'to:"{to}"'})
        r.raise_for_status()
        found: list[dict[str, Any]] = r.json()["messages"]
        if to is not None:
            found = [m for m in found if to.lower() in recipients(m)]
        return found[::-1]

    async def message(self, id: str) -> dict[str, Any]:
        """One message in full: Subject, From, To, Text, HTML, Attachments, Date ..."""
        r = await self.http.get(f"{self.url}/api/v1/message/{id}")
        r.raise_for_status()
        found: dict[str, Any] = r.json()
        return found

    async def headers(self, id: str) -> dict[str, list[str]]:
        r = await self.http.get(f"{self.url}/api/v1/message/{id}/headers")
        r.raise_for_status()
        found: dict[str, list[str]] = r.json()
        return found

    async def wait_for(
        self,
        to: str,
        count: int = 1,
        timeout: float = 15.0,  # noqa: ASYNC109 (how long to poll, not a timeout of one call)
    ) -> list[dict[str, Any]]:
        """The summaries of the messages to `to` once there are at least `count`; fails the test after
        `timeout` seconds otherwise."""

        async def enough() -> list[dict[str, Any]]:
            found = await self.messages(to=to)
            return found if len(found) >= count else []

        return await eventually(enough, within=timeout, interval=0.2)

    async def clear(self, to: str | None = None) -> None:
        """Delete every message, or those addressed to `to`."""
        ids = None if to is None else [m["ID"] for m in await self.messages(to=to)]
        if ids == []:
            return
        r = await self.http.request("DELETE", f"{self.url}/api/v1/messages", json={"IDs": ids or []})
        r.raise_for_status()


def recipients(summary: dict[str, Any]) -> set[str]:
    return {
        str(person["Address"]).lower() for field in ("To", "Cc", "Bcc") for person in summary.get(field) or []
    }


class SmsReceiver:
    """The local SMS provider's log and fault controls (deploy/local/smsreceiver.py)."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url, self.http = url.rstrip("/"), http

    async def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages, newest last: sid, to, from, body, status (queued, then delivered or
        failed), status_callback and callback (what the callback's POST got: `answered` or `error`)."""
        r = await self.http.get(f"{self.url}/messages", params={"to": to} if to else None)
        r.raise_for_status()
        found: list[dict[str, Any]] = r.json()["messages"]
        return found

    async def wait_for(
        self,
        to: str,
        count: int = 1,
        timeout: float = 15.0,  # noqa: ASYNC109 (how long to poll, not a timeout of one call)
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]]:
            found = await self.messages(to=to)
            return found if len(found) >= count else []

        return await eventually(enough, within=timeout, interval=0.2)

    async def fail_next(self, status: int = 500, count: int = 1) -> None:
        """The next `count` sends answer `status` (-1: every send until reset; 0: none)."""
        r = await self.http.post(f"{self.url}/control/fail", json={"status": status, "count": count})
        r.raise_for_status()

    async def undeliverable(self, numbers: list[str]) -> None:
        """Messages to these numbers end `failed` (status callback with ErrorCode 30003)."""
        r = await self.http.post(f"{self.url}/control/undeliverable", json={"numbers": numbers})
        r.raise_for_status()

    async def reset(self) -> None:
        """No failures, no undeliverable numbers, an empty log."""
        r = await self.http.post(f"{self.url}/control/reset")
        r.raise_for_status()
