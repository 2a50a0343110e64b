"""An event leaves the outbox once: two crisis replicas, restarts and a kill -9, and a duplicate
window of a few seconds, so that any event published again after its case grew old would be
stored again. Every event id must be on the stream once, and every escalation at the webhook once.
"""

import asyncio
import itertools
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from pymongo import AsyncMongoClient

from deploy.local.stack import Stack, free_port
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.fault.conftest import discard, start_network
from tests.fault.figures import read_stream
from tests.helpers import eventually
from tests.services.crisis.test_webhooks import Receiver

pytestmark = pytest.mark.fault

WINDOW = 6.0  # seconds; the relay runs every second and leaves a writer 1.5 s (a quarter of it)
ORG = "org-c"
CASES = 16


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    env = {
        "RN_STREAM_DUPLICATE_WINDOW_SECONDS": str(WINDOW),
        "RN_OUTBOX_RELAY_INTERVAL_SECONDS": "1",
        "RN_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on this machine
    }
    stack = start_network(tmp_path, "outbox-once", env=env)
    port = free_port()
    stack.start_replica("crisis", port)
    yield stack, f"http://127.0.0.1:{port}"
    discard(stack)


async def test_every_event_leaves_the_outbox_once_however_old_its_case(
    replicated: tuple[Stack, str], http_load: httpx.AsyncClient
) -> None:
    stack, replica = replicated
    http, tokens = http_load, Tokens(stack)
    urls = itertools.cycle([stack.url("crisis"), replica])
    admin = tokens(f"{ORG}-admin", ORG, Role.ORG_ADMIN)
    responder = tokens("fault-r1", ORG, Role.RESPONDER)

    async def alert(n: int, url: str | None = None) -> str:
        member = tokens(f"once-{n}", ORG, Role.MEMBER)
        r = await http.post(f"{url or next(urls)}/crisis/alerts", json={"severity": "high"}, headers=member)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def act(case: str, action: str, body: dict[str, str] | None = None) -> None:
        r = await http.post(f"{next(urls)}/crisis/cases/{case}/{action}", json=body or {}, headers=responder)
        assert r.status_code == 200, r.text

    # Half the cases open on both replicas, then the replica dies at once: its writes' events
    # are published but not yet marked, and the other replica's relay has to settle them.
    cases = [await alert(n) for n in range(CASES // 2)]
    port = int(replica.rsplit(":", 1)[1])
    stack.kill(f"crisis@{port}")
    # The webhook from now on: a POST cut off by a kill -9 is sent again (a receiver tells the
    # copy by its webhook id); what is counted here is what the outbox and the stream cause.
    receiver = Receiver(statuses=[200])
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    r = await http.put(f"{stack.url('crisis')}/crisis/webhook", json={"url": receiver.url}, headers=admin)
    assert r.status_code == 200, r.text
    cases += [await alert(n, stack.url("crisis")) for n in range(CASES // 2, CASES)]
    stack.start_replica("crisis", port)

    # Levels 1 and 2 escalate on timers (3 s each), then the cases wait, longer than the window.
    await asyncio.sleep(3 * 3 + 2 * WINDOW)
    for case in cases:  # a change to an old case: its old events must stay where they are
        await act(case, "acknowledge")
    stack.kill("crisis", signal.SIGTERM)
    stack.start_service("crisis")
    await asyncio.sleep(2 * WINDOW)
    for case in cases:
        await act(case, "resolve", {"outcome": "safe", "referral": "988"})
    await asyncio.sleep(2 * WINDOW)  # every relay has had its rounds, long after the window

    nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
    try:
        stream = [e for e in await read_stream(nc.jetstream(), "crisis") if e.get("subject") in cases]
    finally:
        await nc.close()
    stored = Counter(e["id"] for e in stream)
    assert [i for i, n in stored.items() if n > 1] == []

    mongo: AsyncMongoClient[dict] = AsyncMongoClient(stack.database_url)  # type: ignore[type-arg]
    try:
        docs = await mongo.rn_crisis.cases.find({"_id": {"$in": cases}}).to_list()
        left = await mongo.rn_crisis.outbox_intents.count_documents({"doc": {"$in": cases}})
    finally:
        await mongo.close()
    outboxes = {entry["id"] for doc in docs for entry in doc["outbox"]}
    assert set(stored) == outboxes  # nothing lost either
    assert left == 0  # every intent settled: nothing left for a relay to publish again
    kinds = Counter(e["type"] for e in stream)
    assert kinds["crisis.raised.v1"] == kinds["crisis.resolved.v1"] == CASES
    assert kinds["crisis.escalated.v1"] == 3 * CASES  # level 1, level 2, the catch-all

    escalated = [e for e in stream if e["type"] == "crisis.escalated.v1"]
    escalations = {e["id"] for e in escalated if e["data"]["level"] > 1}  # after the webhook was set

    async def delivered() -> Counter[str]:
        ids = Counter(h.get("x-rn-event-id") for h, _ in receiver.received)
        return ids if escalations <= set(ids) else Counter()

    at_webhook = await eventually(delivered, within=30)
    assert {i: n for i, n in at_webhook.items() if i in escalations and n > 1} == {}
    server.close()
