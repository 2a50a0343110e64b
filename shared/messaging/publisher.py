"""Publishing events: JetStream only, acknowledged, idempotent by event id.

The event id is the `Nats-Msg-Id`, so a retry after a lost acknowledgement is recognised
by the stream's duplicate window instead of stored twice.
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from faststream.nats import JStream, NatsBroker
from faststream.nats.publisher.usecase import LogicPublisher
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext
from opentelemetry import propagate

from contracts.envelope import Event
from contracts.subjects import stream_name

log = logging.getLogger(__name__)


REMEMBERED = 200_000  # a few minutes of events at any rate this service sustains


class PublishFailed(RuntimeError):
    """JetStream did not acknowledge an event after every retry; the outbox keeps it for later."""


class EventPublisher:
    """Publishes this service's events, acknowledged and idempotent. Each event type it may publish is
    declared as a FastStream publisher, which is what AsyncAPI shows; the publishing itself goes
    straight through the broker's connection (see `publish_raw`)."""

    def __init__(
        self,
        broker: NatsBroker,
        events: Iterable[type[Event]],
        *,
        timeout: float = 2.0,
        attempts: int = 4,
    ) -> None:
        self._broker = broker
        self._timeout = timeout
        self._attempts = attempts
        # Ids this process has seen acknowledged, newest last: the outbox relay skips them.
        self._acknowledged: OrderedDict[str, None] = OrderedDict()
        self._js: tuple[Client, JetStreamContext] | None = None
        self._publishers: dict[str, LogicPublisher] = {
            event.type_name(): broker.publisher(
                event.subject_pattern().replace("*", "{org}"),
                stream=JStream(stream_name(event.domain), declare=False),
                schema=event,
                title=f"{event.subject_pattern()}:publish",
                description=(event.__doc__ or "").strip() or None,
            )
            for event in events
        }

    def acknowledged(self, event_id: str) -> bool:
        """Whether this process has published the event (among the most recent ones)."""
        return event_id in self._acknowledged

    def _remember(self, event_id: str) -> None:
        self._acknowledged[event_id] = None
        if len(self._acknowledged) > REMEMBERED:
            self._acknowledged.popitem(last=False)

    async def publish(self, event: Event) -> None:
        await self.publish_raw(event.type, event.nats_subject(), event.model_dump_json().encode(), event.id)

    async def publish_raw(self, event_type: str, subject: str, payload: bytes, event_id: str) -> None:
        """Publish an already serialised event (the outbox keeps them as text).

        Straight through the broker's NATS connection, with the current trace context in the headers,
        rather than through the declared FastStream publisher: its wrapping of a publish (middlewares
        and a span per message, then exporting those spans) cost more than the publish itself, on
        every event of every flow (bench/baseline.py: 0.36 of raw nats-py's throughput through it).
        The declared publishers remain what this service may publish, and what AsyncAPI shows.
        """
        await self._send(event_type, subject, payload, event_id, _trace_headers())

    async def publish_many(self, entries: Sequence[Mapping[str, str]], concurrency: int = 64) -> None:
        """Many serialised events at once (a fan-out's announcements, as outbox entries), side by side,
        all in the current trace context (read once, not once per event)."""
        trace = _trace_headers()
        slots = asyncio.Semaphore(concurrency)

        async def one(entry: Mapping[str, str]) -> None:
            payload = entry["payload"].encode()
            async with slots:
                await self._send(entry["type"], entry["subject"], payload, entry["id"], trace)

        await asyncio.gather(*(one(e) for e in entries if not self.acknowledged(e["id"])))

    async def _send(
        self, event_type: str, subject: str, payload: bytes, event_id: str, trace: Mapping[str, str]
    ) -> None:
        self._check_declared(event_type)
        headers = {**trace, "Nats-Msg-Id": event_id, "content-type": "application/json"}
        stream = stream_name(event_type.split(".", 1)[0])
        js = self._jetstream()

        async def send() -> None:
            await js.publish(subject, payload, timeout=self._timeout, stream=stream, headers=headers)

        await self._with_retries(event_id, send)

    def _jetstream(self) -> JetStreamContext:
        """The broker connection's JetStream context, made once per connection (not per event)."""
        connection = self._broker.connection
        if self._js is None or self._js[0] is not connection:
            self._js = (connection, connection.jetstream())
        return self._js[1]

    def _check_declared(self, event_type: str) -> None:
        if event_type not in self._publishers:
            raise ValueError(f"this service does not publish {event_type}")

    async def _with_retries(self, event_id: str, send: Callable[[], Awaitable[None]]) -> None:
        delay = 0.1
        for attempt in range(1, self._attempts + 1):
            try:
                await send()
                self._remember(event_id)
                return
            except (NatsTimeoutError, NoRespondersError, TimeoutError) as exc:
                log.warning("publish of %s not acknowledged (attempt %d): %r", event_id, attempt, exc)
                if attempt == self._attempts:
                    raise PublishFailed(
                        f"event {event_id} not acknowledged after {attempt} attempts"
                    ) from exc
                await asyncio.sleep(delay)
                delay *= 2


def _trace_headers() -> dict[str, str]:
    """The current trace context as NATS headers (`traceparent`, and `tracestate` when there is one)."""
    trace: dict[str, str] = {}
    propagate.inject(trace)
    return trace
