"""The messaging plumbing against a real nats-server: de-duplication, retries, dead letters."""

import itertools
import json
from collections.abc import AsyncIterator

import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from opentelemetry.sdk.trace import TracerProvider

from contracts.meetings import MeetingScheduled, MeetingScheduledData
from contracts.subjects import stream_name
from deploy.local.stack import Stack
from shared.messaging.broker import make_broker, subscribe
from shared.messaging.deadletter import REASON_HEADER, list_dead_letters, replay
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription, provision
from tests.helpers import eventually

_numbers = itertools.count()


def scheduled(org: str, name: str = "Hope") -> MeetingScheduled:
    return MeetingScheduled.create(
        source="meetings",
        org=org,
        subject="m1",
        data=MeetingScheduledData(
            meeting_id="m1", slug="m1", name=name, timezone="UTC", attendance_option="in_person"
        ),
    )


@pytest.fixture
async def probe(stack: Stack, admin_nc: NatsClient) -> AsyncIterator[tuple[NatsBroker, Subscription, str]]:
    """A fresh service name, its provisioned consumer, an unused organization, and a broker (not started)."""
    n = next(_numbers)
    sub = Subscription(f"probe{n}", MeetingScheduled)
    await provision(admin_nc.jetstream(), [sub], max_deliver=3)
    broker = make_broker(
        stack.settings(sub.service, nats_user="admin", max_deliver=3, retry_backoff_seconds=(0.1, 0.2))
    )
    yield broker, sub, f"probe-org-{n}"
    await broker.stop()


async def test_publishing_the_same_event_twice_stores_it_once(probe: tuple, admin_nc: NatsClient) -> None:
    broker, _, org = probe
    publisher = EventPublisher(broker, [MeetingScheduled])
    await broker.start()
    event = scheduled(org)
    js = admin_nc.jetstream()
    before = (await js.stream_info(stream_name("meetings"))).state.messages
    await publisher.publish(event)
    await publisher.publish(event)
    after = (await js.stream_info(stream_name("meetings"))).state.messages
    assert after - before == 1


async def test_an_event_carries_the_trace_of_the_span_that_published_it(
    probe: tuple, admin_nc: NatsClient
) -> None:
    broker, _, org = probe
    publisher = EventPublisher(broker, [MeetingScheduled])
    await broker.start()
    event = scheduled(org)
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("schedule a meeting") as span:
        await publisher.publish(event)
    js = admin_nc.jetstream()
    stored = await js.get_last_msg(stream_name("meetings"), event.nats_subject())
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == event.id
    assert stored.headers["traceparent"].split("-")[1] == trace_id


async def test_an_event_type_the_service_does_not_declare_is_refused(probe: tuple) -> None:
    broker, _, org = probe
    publisher = EventPublisher(broker, [])
    await broker.start()
    with pytest.raises(ValueError, match=r"does not publish meetings\.scheduled"):
        await publisher.publish(scheduled(org))


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_does_not_block_the_consumer(
    probe: tuple, admin_nc: NatsClient
) -> None:
    broker, sub, org = probe
    handled: list[str] = []

    @subscribe(broker, sub)
    async def on_meeting_scheduled(event: MeetingScheduled) -> None:
        if event.org == org:
            handled.append(event.data.name)

    await broker.start()
    js = admin_nc.jetstream()
    subject = f"rn.{org}.meetings.scheduled.v2"
    wrong_version = {**scheduled(org).model_dump(mode="json"), "type": "meetings.scheduled.v1"}
    await js.publish(subject, b"{not json", headers={"Nats-Msg-Id": f"{org}-bad-1"})
    await js.publish(subject, json.dumps(wrong_version).encode(), headers={"Nats-Msg-Id": f"{org}-bad-2"})
    await js.publish(subject, scheduled(org, "After the bad ones").model_dump_json().encode())

    assert await eventually(lambda: _async(handled)) == ["After the bad ones"]

    async def letters() -> list:
        found = [d for d in await list_dead_letters(js, sub.service) if d.original_subject == subject]
        return found if len(found) == 2 else []

    reasons = sorted(d.reason for d in await eventually(letters))
    assert reasons[0].startswith("invalid message: body is not JSON")
    assert "type" in reasons[1] and reasons[1].startswith("invalid message:")


async def test_a_replayed_dead_letter_is_handled_once_its_cause_is_fixed(
    probe: tuple, admin_nc: NatsClient
) -> None:
    broker, sub, org = probe
    handled: list[str] = []
    broken = True

    @subscribe(broker, sub)
    async def on_meeting_scheduled(event: MeetingScheduled) -> None:
        if event.org != org:
            return
        if broken:
            raise ConnectionError("database unavailable")
        handled.append(event.id)

    await broker.start()
    js = admin_nc.jetstream()
    event = scheduled(org)
    await js.publish(
        event.nats_subject(), event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
    )

    async def dead() -> list:
        return [d for d in await list_dead_letters(js, sub.service) if org in d.original_subject]

    (letter,) = await eventually(dead)
    broken = False
    await replay(js, letter.sequence)
    await replay(js, letter.sequence)  # a second replay of the same letter is de-duplicated
    assert await eventually(lambda: _async(handled)) == [event.id]
    with pytest.raises(LookupError):
        await replay(js, 10**9)


async def test_a_failing_handler_is_retried_then_dead_lettered_when_deliveries_run_out(
    probe: tuple, admin_nc: NatsClient
) -> None:
    broker, sub, org = probe
    attempts: dict[str, int] = {}

    @subscribe(broker, sub)
    async def on_meeting_scheduled(event: MeetingScheduled) -> None:
        if event.org != org:
            return
        attempts[event.data.name] = attempts.get(event.data.name, 0) + 1
        if event.data.name == "always fails" or attempts[event.data.name] < 2:
            raise ConnectionError("database unavailable")

    await broker.start()
    publisher = EventPublisher(broker, [MeetingScheduled])
    await publisher.publish(scheduled(org, "fails once"))
    await publisher.publish(scheduled(org, "always fails"))

    js = admin_nc.jetstream()

    async def dead() -> list:
        return [d for d in await list_dead_letters(js, sub.service) if org in d.original_subject]

    (letter,) = await eventually(dead)
    assert letter.reason == "failed 3 deliveries; last error: ConnectionError: database unavailable"
    assert json.loads(letter.body)["data"]["name"] == "always fails"
    assert attempts == {"fails once": 2, "always fails": 3}
    msg = await js.get_msg("DEADLETTER", letter.sequence)
    assert msg.headers and msg.headers[REASON_HEADER] == letter.reason


async def _async(value: list[str]) -> list[str]:
    return value
