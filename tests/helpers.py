"""Small test helpers."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


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
