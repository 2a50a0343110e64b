"""Streams and consumers as code: the only place that creates or changes them.

Apps connect with `declare=False` so a running service never silently rewrites a stream;
`provision` runs before them (the local runner, a test fixture, or a deploy job).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from contracts.envelope import Event
from contracts.subjects import DOMAINS, domain_wildcard, stream_name

DEAD_LETTER_STREAM = "DEADLETTER"
DEAD_LETTER_SUBJECTS = "deadletter.>"

# Longer than the publisher's whole retry horizon, so a retried publish is always recognised, and
# than the outbox relay's round and grace (shared.outbox), so a relay copy of an event its writer
# published is recognised too. Tests set a short one (RN_STREAM_DUPLICATE_WINDOW_SECONDS).
DUPLICATE_WINDOW_SECONDS = 120.0
# When a consumer process dies mid-message, the server redelivers after this wait. Retries of
# failed handlers are paced by the delays of their naks instead: a consumer-level BackOff list
# would stretch those delays (the server measures a nak delay against the plain ack wait).
ACK_WAIT_SECONDS = 15.0


def duplicate_window(env: Mapping[str, str]) -> float:
    """The window a deployment sets (RN_STREAM_DUPLICATE_WINDOW_SECONDS), read as the services read it."""
    return float(env.get("RN_STREAM_DUPLICATE_WINDOW_SECONDS", DUPLICATE_WINDOW_SECONDS))


@dataclass(frozen=True)
class Subscription:
    """One durable pull consumer: a service listening to one event type in every organization."""

    service: str
    event: type[Event]

    @property
    def durable(self) -> str:
        return f"{self.service}-{self.event.domain}-{self.event.name}-v{self.event.version}"

    @property
    def stream(self) -> str:
        return stream_name(self.event.domain)

    @property
    def filter_subject(self) -> str:
        return self.event.subject_pattern()


def stream_configs(
    replicas: int = 1, duplicate_window: float = DUPLICATE_WINDOW_SECONDS
) -> list[StreamConfig]:
    configs = [
        StreamConfig(
            name=stream_name(domain),
            subjects=[domain_wildcard(domain)],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
            max_age=90 * 24 * 3600.0,
        )
        for domain in DOMAINS
    ]
    configs.append(
        StreamConfig(
            name=DEAD_LETTER_STREAM,
            subjects=[DEAD_LETTER_SUBJECTS],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
        )
    )
    return configs


def consumer_config(sub: Subscription, max_deliver: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=sub.durable,
        filter_subject=sub.filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_deliver=max_deliver,
        ack_wait=ACK_WAIT_SECONDS,
        max_ack_pending=1000,
    )


async def provision(
    js: JetStreamContext,
    subscriptions: Iterable[Subscription],
    *,
    max_deliver: int = 5,
    replicas: int = 1,
    duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
) -> None:
    """Create or update every stream and consumer; safe to run again at any time."""
    for config in stream_configs(replicas, duplicate_window):
        try:
            await js.stream_info(config.name or "")
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
    for sub in subscriptions:
        # add_consumer is create-or-update for a durable with the same name.
        await js.add_consumer(sub.stream, consumer_config(sub, max_deliver))
