"""A graceful stop (SIGTERM, as a rolling deploy sends) finishes what the service started and hands
back what it had not: timers firing finish their writes, messages in hand are handled, and messages
fetched but not handled go back to JetStream at once instead of after the ack wait.

The whole service stopping in a surge is tests/e2e/test_surge.py; these are the pieces, on the
session's nats-server and document store.
"""

import asyncio
import contextlib
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.meetings import MeetingScheduled, MeetingScheduledData
from deploy.local.stack import Stack
from shared import scheduler
from shared.messaging.broker import make_broker, stop_broker, subscribe
from shared.messaging.streams import ACK_WAIT_SECONDS, Subscription, provision
from tests.helpers import eventually

pytestmark = pytest.mark.fault

Document = dict[str, Any]
_numbers = itertools.count()


async def test_a_timer_firing_when_its_loop_stops_finishes_and_one_still_waiting_does_not_start(
    scratch_db: AsyncDatabase[Document],
) -> None:
    entries, started, finished = scratch_db.entries, asyncio.Event(), []
    now = datetime.now(UTC)
    await scheduler.schedule(entries, "firing", now)
    await scheduler.schedule(entries, "waiting", now + timedelta(seconds=0.6))

    async def fire(entry: Document) -> None:
        started.set()
        await asyncio.sleep(0.3)  # its write, under way when the stop comes
        finished.append(entry["_id"])

    loop = asyncio.create_task(scheduler.run(entries, fire, interval=1.0, clock=lambda: datetime.now(UTC)))
    await asyncio.wait_for(started.wait(), 5)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop

    assert finished == ["firing"]
    assert [d["_id"] for d in await entries.find({}).to_list()] == ["waiting"]  # for the next loop


async def test_a_timer_that_outlasts_the_drain_is_cancelled_and_kept(
    scratch_db: AsyncDatabase[Document],
) -> None:
    entries, started = scratch_db.entries, asyncio.Event()
    await scheduler.schedule(entries, "stuck", datetime.now(UTC))

    async def fire(_: Document) -> None:
        started.set()
        await asyncio.sleep(60)  # a store that stopped answering

    loop = asyncio.create_task(
        scheduler.run(entries, fire, interval=1.0, clock=lambda: datetime.now(UTC), drain_seconds=0.2)
    )
    await asyncio.wait_for(started.wait(), 5)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(loop, 2)  # the drain's bound, not the minute

    assert [d["_id"] for d in await entries.find({}).to_list()] == ["stuck"]


async def test_a_stopping_consumer_handles_what_it_holds_and_hands_back_the_rest_at_once(
    stack: Stack, admin_nc: NatsClient
) -> None:
    n = next(_numbers)
    sub, org = Subscription(f"stopping{n}", MeetingScheduled), f"stopping-org-{n}"
    await provision(admin_nc.jetstream(), [sub])
    published = []
    for m in range(40):
        data = MeetingScheduledData(
            meeting_id=f"m{m}", slug=f"m{m}", name="Hope", timezone="UTC", attendance_option="in_person"
        )
        event = MeetingScheduled.create(source="meetings", org=org, subject=f"m{m}", data=data)
        await admin_nc.jetstream().publish(
            event.nats_subject(), event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
        )
        published.append(event.id)
    handled: list[tuple[str, str]] = []
    busy = asyncio.Event()

    def consumer(name: str) -> Any:
        broker = make_broker(stack.settings(sub.service, nats_user="admin"))

        @subscribe(broker, sub, max_workers=4)
        async def on_meeting_scheduled(event: MeetingScheduled) -> None:
            if event.org != org:
                return  # the session's other meetings, on the same stream
            busy.set()
            await asyncio.sleep(0.2)  # in hand when the stop comes
            handled.append((name, event.id))

        return broker

    first = consumer("first")
    await first.start()
    await asyncio.wait_for(busy.wait(), 10)
    await stop_broker(first)
    by_first = [i for name, i in handled if name == "first"]
    assert 0 < len(by_first) < len(published)

    async def all_handled() -> bool:
        return len(handled) >= len(published)

    second = consumer("second")
    await second.start()
    try:
        # Handed back, not waiting out the ack wait of what the first one had fetched.
        await eventually(all_handled, within=ACK_WAIT_SECONDS / 2)
    finally:
        await stop_broker(second)
    assert Counter(i for _, i in handled) == Counter(published)  # each once: none dropped midway
