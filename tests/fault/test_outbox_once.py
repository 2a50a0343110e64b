"""An event leaves the outbox once: two crisis replicas, restarts and a kill -9, and a duplicate
window of a few seconds, so that any event published again after its case grew old would be
stored again. Every event id must be on the stream once, and every escalation at the webhook once.
"""

import asyncio
import contextlib
import itertools
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from pymongo import AsyncMongoClient

from deploy.local.stack import Stack, free_port
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.fault.conftest import PROTOCOL, discard, start_network
from tests.fault.figures import read_stream
from tests.helpers import eventually
from tests.services.crisis.test_webhooks import Receiver

pytestmark = pytest.mark.fault

WINDOW = 6.0  # seconds; the relay runs every second and leaves a writer 1.5 s (a quarter of it)
OLD = timedelta(seconds=WINDOW + 1.5)  # an event published this long ago would be stored again
ORG = "org-c"
CASES = 24


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    env = {
        "RN_STREAM_DUPLICATE_WINDOW_SECONDS": str(WINDOW),
        "RN_OUTBOX_RELAY_INTERVAL_SECONDS": "1",
        "RN_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on this machine
    }
    # Crisis alone (and insights, where its traces go): nothing else reads or writes its outbox.
    stack = start_network(tmp_path, "outbox-once", env=env, services=("crisis", "insights"))
    port = free_port()
    stack.start_replica("crisis", port)
    yield stack, f"http://127.0.0.1:{port}"
    discard(stack)


async def test_every_event_leaves_the_outbox_once_however_old_its_case(
    replicated: tuple[Stack, str], http_load: httpx.AsyncClient
) -> None:
    stack, replica = replicated
    port = int(replica.rsplit(":", 1)[1])
    http, tokens = http_load, Tokens(stack)
    main = stack.url("crisis")
    urls = itertools.cycle([main, replica])
    admin = tokens(f"{ORG}-admin", ORG, Role.ORG_ADMIN)
    responder = tokens("fault-r1", ORG, Role.RESPONDER)
    # Level 2 comes 3 s after an alert, the catch-all 12 s after that: time to restart in between
    # (both processes are back in about 6 s).
    protocol = {
        **PROTOCOL,
        "levels": [{**PROTOCOL["levels"][0]}, {**PROTOCOL["levels"][1], "timeout_minutes": 0.2}],
    }
    assert (await http.put(f"{main}/crisis/protocol", json=protocol, headers=admin)).status_code == 204

    async def alert(n: int, url: str) -> None:
        member = tokens(f"once-{n}", ORG, Role.MEMBER)
        with contextlib.suppress(httpx.HTTPError):  # the replica may die under it: counted from the store
            await http.post(f"{url}/crisis/alerts", json={"severity": "high"}, headers=member)

    async def act(case: str, action: str, body: dict[str, str] | None = None) -> None:
        r = await http.post(f"{next(urls)}/crisis/cases/{case}/{action}", json=body or {}, headers=responder)
        assert r.status_code == 200, r.text

    # A burst on both replicas, and the replica is killed in the middle of it: writes whose
    # events it published or not, intents it left behind, for the other replica's relay.
    mongo: AsyncMongoClient[dict] = AsyncMongoClient(stack.database_url, tz_aware=True)  # type: ignore[type-arg]
    burst = asyncio.gather(*(alert(n, main if n % 2 else replica) for n in range(CASES)))

    async def some_written() -> bool:
        return burst.done() or await mongo.rn_crisis.cases.count_documents({"org": ORG}) >= CASES // 2 + 2

    await eventually(some_written, within=10, interval=0.01)
    stack.kill(f"crisis@{port}")  # some of its cases written, others on their way
    await burst
    # Level 2 fires on timers 3 s later: the main process is stopped as they fire.
    await asyncio.sleep(2.9)
    stack.kill("crisis", signal.SIGTERM)
    await asyncio.gather(
        asyncio.to_thread(stack.start_service, "crisis"),
        asyncio.to_thread(stack.start_replica, "crisis", port),
    )
    # The webhook from now on (the catch-all comes after this): no process is killed while it
    # receives, so a copy there could only come from the outbox or the stream.
    receiver = Receiver(statuses=[200])
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    r = await http.put(f"{main}/crisis/webhook", json={"url": receiver.url}, headers=admin)
    assert r.status_code == 200, r.text

    async def catch_alls() -> list[datetime | None]:
        """When each case reached its catch-all (None: not yet)."""
        docs = await mongo.rn_crisis.cases.find({"org": ORG}, {"timeline": 1}).to_list()
        return [
            max(
                (t["at"] for t in d["timeline"] if t["what"] == "escalated" and t.get("catch_all")),
                default=None,
            )
            for d in docs
        ]

    try:
        early = [at for at in await catch_alls() if at]
        assert early == [], "a catch-all fired before the webhook was set: the restart took too long"

        # The catch-all (12 s after level 2), then the window: every event of these cases is old.
        async def caught_all() -> list[datetime | None]:
            found = await catch_alls()
            return [] if None in found else found

        await until(max(at for at in await eventually(caught_all, within=60, interval=0.5) if at) + OLD)
        cases = [d["_id"] for d in await mongo.rn_crisis.cases.find({"org": ORG}, {"_id": 1}).to_list()]
        assert len(cases) > CASES // 2 + 1  # the replica's too, before it died
        for case in cases:  # a change to an old case: its old events must stay where they are
            await act(case, "acknowledge")
        acknowledged = datetime.now(UTC)
        stack.kill("crisis", signal.SIGTERM)
        stack.start_service("crisis")
        await until(acknowledged + OLD)
        for case in cases:
            await act(case, "resolve", {"outcome": "safe", "referral": "988"})
        # Every relay has had its rounds, after the window: a copy published now would be stored.
        await until(datetime.now(UTC) + OLD + timedelta(seconds=2))

        async def settled() -> bool:
            return not await mongo.rn_crisis.outbox_intents.count_documents({"doc": {"$in": cases}})

        # Each change's intent goes once its events are acknowledged, before its answer: any left is a
        # writer cut off midway (or a relay round still on its way on a busy machine).
        with contextlib.suppress(AssertionError):
            await eventually(settled, within=10, interval=0.5)
        left = await mongo.rn_crisis.outbox_intents.find({"doc": {"$in": cases}}).to_list()
        docs = await mongo.rn_crisis.cases.find({"_id": {"$in": cases}}).to_list()
    finally:
        await mongo.close()

    nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
    try:
        stream = [e for e in await read_stream(nc.jetstream(), "crisis") if e.get("subject") in cases]
    finally:
        await nc.close()
    stored = Counter(e["id"] for e in stream)
    assert [i for i, n in stored.items() if n > 1] == []
    outboxes = {entry["id"] for doc in docs for entry in doc["outbox"]}
    assert set(stored) == outboxes  # nothing lost either
    assert left == []  # every intent settled: nothing left for a relay to publish again
    kinds = Counter(e["type"] for e in stream)
    assert kinds["crisis.raised.v1"] == kinds["crisis.resolved.v1"] == len(cases)
    assert kinds["crisis.escalated.v1"] == 3 * len(cases)  # level 1, level 2, the catch-all

    catch_alls = {e["id"] for e in stream if e["type"] == "crisis.escalated.v1" and e["data"]["catch_all"]}

    async def delivered() -> Counter[str]:
        ids = Counter(h.get("webhook-id") for h, _ in receiver.received)
        return ids if catch_alls <= set(ids) else Counter()

    at_webhook = await eventually(delivered, within=30)
    assert {i: n for i, n in at_webhook.items() if n > 1} == {}
    server.close()


async def until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))
