"""The one way a service gets a NATS broker and declares its event handlers."""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.security import SASLPlaintext
from nats.js.client import JetStreamContext
from opentelemetry.trace import TracerProvider

from shared.messaging import fetch
from shared.messaging.deadletter import make_dead_letter_middleware
from shared.messaging.streams import Subscription
from shared.settings import ServiceSettings

F = TypeVar("F", bound=Callable[..., Any])


def inbox_prefix(service_name: str) -> str:
    """Where a service's replies arrive. Its NATS user may subscribe only under this prefix, so no
    service can read the replies (JetStream acks, fetched messages) meant for another one."""
    return f"_INBOX_{service_name}"


def make_broker(settings: ServiceSettings, tracer_provider: TracerProvider | None = None) -> NatsBroker:
    security = (
        SASLPlaintext(username=settings.nats_user, password=settings.nats_password or "")
        if settings.nats_user
        else None
    )
    broker: NatsBroker | None = None
    dead_letters = make_dead_letter_middleware(
        settings.service_name,
        lambda: _require(broker),
        settings.max_deliver,
        settings.retry_backoff_seconds,
    )
    broker = NatsBroker(
        settings.nats_servers,
        name=settings.service_name,
        security=security,
        inbox_prefix=inbox_prefix(settings.service_name),
        # Telemetry outermost so a dead-lettered message still leaves a span.
        middlewares=(NatsTelemetryMiddleware(tracer_provider=tracer_provider), dead_letters),
        # FastStream logs every message at INFO by default; that costs ~20x throughput.
        log_level=logging.DEBUG,
        # Not under "faststream": that logger tree carries FastStream's own INFO-level handler.
        logger=logging.getLogger(f"rn.messaging.{settings.service_name}"),
        graceful_timeout=10.0,
        max_reconnect_attempts=-1,
    )
    return broker


def _require(broker: NatsBroker | None) -> NatsBroker:
    assert broker is not None, "broker used before it was built"
    return broker


def subscribe(
    broker: NatsBroker, sub: Subscription, *, batch_size: int = 16, max_workers: int = 1
) -> Callable[[F], F]:
    """Attach a handler to its provisioned durable pull consumer, handling up to `max_workers`
    messages at once (1: one after another).

    Failures are nacked with a delay (never terminated) and dead-lettered by the middleware
    when they cannot succeed; the consumer itself is created by `streams.provision`.
    """
    fetch.install()  # an idle fetch otherwise ends FastStream's pull loop with a traceback (see fetch.py)

    def decorate(handler: F) -> F:
        broker.subscriber(
            sub.filter_subject,
            stream=JStream(sub.stream, declare=False),
            durable=sub.durable,
            pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
            # FastStream's own default is `_INBOX.`, which the service's NATS user may not read.
            inbox_prefix=f"{inbox_prefix(sub.service)}.".encode(),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            max_workers=max_workers,
            title=f"{sub.filter_subject}:{sub.durable}",
        )(handler)
        return handler

    return decorate


async def stop_broker(broker: NatsBroker) -> None:
    """Stop consuming, hand back what was fetched and not handled (fetch.release_unhandled), close."""
    pulls = [
        pull
        for subscriber in broker.subscribers
        if isinstance(pull := getattr(subscriber, "subscription", None), JetStreamContext.PullSubscription)
    ]
    # Each subscriber waits for the messages it is handling (the broker's graceful timeout); stopped
    # again by broker.stop, they have nothing left to do.
    async with asyncio.TaskGroup() as group:
        for subscriber in broker.subscribers:
            group.create_task(subscriber.stop())
    await fetch.release_unhandled(pulls)
    await broker.stop()
