"""Fixtures of the crisis integration tests: a fast protocol for org-a, and its events as stored."""

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import put_staff

FAST = 0.05  # minutes: 3 s per level
PROTOCOL = {
    "levels": [
        {"responder_ids": ["esc-1"], "timeout_minutes": FAST},
        {"responder_ids": ["esc-2"], "timeout_minutes": FAST},
    ],
    "catch_all": "coordinator",
    "catch_all_timeout_minutes": 60,
    "ack_timeout_minutes": FAST,
}


class Events:
    """Every crisis event of org-a stored in the stream, with the time it arrived.

    Read from JetStream, as every consumer reads: a publish retried with the same id is seen twice
    by a plain subscriber, but stored once.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[float, dict[str, Any]]] = []

    async def on_msg(self, msg: Msg) -> None:
        self.seen.append((time.time(), json.loads(msg.data)))

    def of(self, case_id: str, kind: str = "crisis.escalated.v1") -> list[dict[str, Any]]:
        return [e for _, e in self.seen if e["type"] == kind and e["data"]["case_id"] == case_id]

    def at_least(
        self, n: int, case_id: str, kind: str = "crisis.escalated.v1"
    ) -> Callable[[], Awaitable[bool]]:
        """A probe for `eventually`: `n` such events of the case have arrived."""

        async def probe() -> bool:
            return len(self.of(case_id, kind)) >= n

        return probe

    def levels(self, case_id: str) -> list[tuple[int, int]]:
        return [(e["data"]["level"], e["data"]["round"]) for e in self.of(case_id)]


@pytest.fixture
async def events(admin_nc: NatsClient) -> AsyncIterator[Events]:
    collected = Events()
    sub = await admin_nc.jetstream().subscribe(
        "rn.org-a.crisis.>",
        stream="CRISIS",
        cb=collected.on_msg,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    yield collected
    await sub.unsubscribe()


@pytest.fixture
async def fast_protocol(network: Stack, tokens: Tokens, http: httpx.AsyncClient) -> str:
    url = network.url("crisis")
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    staff = {"esc-1": ["responder"], "esc-2": ["responder"], "esc-coord": ["coordinator"]}
    await put_staff(http, url, admin, staff)
    r = await http.put(f"{url}/crisis/protocol", json=PROTOCOL, headers=admin)
    assert r.status_code == 204, r.text
    return url


async def raise_alert(
    http: httpx.AsyncClient, url: str, tokens: Tokens, severity: str = "high"
) -> dict[str, Any]:
    r = await http.post(
        f"{url}/crisis/alerts",
        json={"severity": severity},
        headers=tokens(f"m-{new_id()}", "org-a", Role.MEMBER),
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]
