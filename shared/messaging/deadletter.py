"""Dead letters: messages that can never be handled leave the consumer, with the reason.

A message that fails validation (malformed, wrong type or version, wrong organization) is
dead-lettered at once; one whose handler keeps failing is retried with back-off and
dead-lettered when its deliveries run out. Either way the consumer moves on: one bad message
never blocks a stream. The API lists and replays them.
"""

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faststream import BaseMiddleware
from faststream.exceptions import AckMessage, HandlerException, NackMessage
from faststream.message import StreamMessage
from faststream.nats import NatsBroker
from nats.errors import NotJSMessageError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from contracts.subjects import org_of
from shared.messaging.streams import DEAD_LETTER_STREAM
from shared.telemetry import (
    FACT_MESSAGE_DEAD_LETTERED,
    FACT_MESSAGE_REDELIVERED,
    ORG,
    STREAM,
    record_fact,
    tag_current_span,
)

log = logging.getLogger(__name__)

REASON_HEADER = "Rn-Dead-Letter-Reason"
SUBJECT_HEADER = "Rn-Original-Subject"
CONSUMER_HEADER = "Rn-Consumer"


class UnusableMessage(Exception):
    """The message itself is wrong; retrying cannot help."""


def check_envelope(subject: str, body: bytes) -> None:
    """The envelope must be JSON and name the organization its subject names."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnusableMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise UnusableMessage("body is not a JSON object")
    if envelope.get("org") != org_of(subject):
        raise UnusableMessage("envelope org does not match the subject's organization")


def retry_delay(attempt: int, backoff: Sequence[float]) -> float:
    return backoff[min(attempt, len(backoff)) - 1]


def dead_letter_subject(service: str, consumer: str) -> str:
    return f"deadletter.{service}.{consumer}"


def make_dead_letter_middleware(
    service: str, broker_ref: Callable[[], NatsBroker], max_deliver: int, backoff: Sequence[float]
) -> type[BaseMiddleware]:
    """A FastStream middleware class bound to this service's retry policy."""

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            raw = msg.raw_message
            try:
                metadata = raw.metadata
            except (NotJSMessageError, ValueError, IndexError):
                return await call_next(msg)  # core NATS request/reply: nothing to retry or dead-letter
            try:
                check_envelope(raw.subject, raw.data)
                if metadata.num_delivered > 1:
                    _record(FACT_MESSAGE_REDELIVERED, raw)
                return await call_next(msg)
            except HandlerException:
                raise
            except (UnusableMessage, ValidationError) as exc:
                await self._dead_letter(raw, metadata.consumer, f"invalid message: {_short(exc)}")
                raise AckMessage() from exc
            except Exception as exc:
                attempt = metadata.num_delivered
                if attempt >= max_deliver:
                    await self._dead_letter(
                        raw, metadata.consumer, f"failed {attempt} deliveries; last error: {_short(exc)}"
                    )
                    raise AckMessage() from exc
                log.warning("handler failed on delivery %d of %s: %r", attempt, metadata.consumer, exc)
                raise NackMessage(delay=retry_delay(attempt, backoff)) from exc

        async def _dead_letter(self, raw: Any, consumer: str, reason: str) -> None:
            # The reason names fields and error kinds, never message contents (no personal data).
            log.error("dead-lettering a message from %s: %s", consumer, reason)
            seq = raw.metadata.sequence.stream
            headers = {
                REASON_HEADER: reason,
                SUBJECT_HEADER: raw.subject,
                CONSUMER_HEADER: consumer,
                # One dead letter per original message, however often this runs for it.
                "Nats-Msg-Id": f"dl-{raw.metadata.stream}-{seq}-{consumer}",
            }
            ack = await broker_ref().publish(
                raw.data, dead_letter_subject(service, consumer), headers=headers, stream=DEAD_LETTER_STREAM
            )
            # A message dead-lettered again (its acknowledgement was lost, so it came back) is stored
            # once, and counted once.
            if not ack.duplicate:
                _record(FACT_MESSAGE_DEAD_LETTERED, raw)

    return DeadLetterMiddleware


def _record(fact: str, raw: Any) -> None:
    """A messaging fact on the message's span, which names the organization of the message's subject:
    the handler names it only once it has read the event, which a redelivered message has not yet,
    and an unusable one never does."""
    org = org_of(raw.subject)
    if org:
        tag_current_span({ORG: org})
    record_fact(fact, {STREAM: raw.metadata.stream})


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return "; ".join(parts)
    if isinstance(exc, UnusableMessage):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc)[:300]}"


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    subject: str
    original_subject: str
    consumer: str
    reason: str
    body: str


async def list_dead_letters(js: JetStreamContext, service: str, limit: int = 100) -> list[DeadLetter]:
    """The newest dead letters of one service, newest first."""
    info = await js.stream_info(DEAD_LETTER_STREAM)
    letters: list[DeadLetter] = []
    seq = info.state.last_seq
    while seq >= max(info.state.first_seq, 1) and len(letters) < limit:
        letter = await get_dead_letter(js, seq)
        if letter and letter.subject.startswith(f"deadletter.{service}."):
            letters.append(letter)
        seq -= 1
    return letters


async def get_dead_letter(js: JetStreamContext, seq: int) -> DeadLetter | None:
    try:
        msg = await js.get_msg(DEAD_LETTER_STREAM, seq)
    except NotFoundError:
        return None
    headers = msg.headers or {}
    return DeadLetter(
        sequence=seq,
        subject=msg.subject or "",
        original_subject=headers.get(SUBJECT_HEADER, ""),
        consumer=headers.get(CONSUMER_HEADER, ""),
        reason=headers.get(REASON_HEADER, ""),
        body=(msg.data or b"").decode("utf-8", "replace"),
    )


async def replay(js: JetStreamContext, seq: int) -> int:
    """Publish a dead letter's body again on its original subject; returns the new stream sequence.

    Consumers are idempotent, so those that handled the original before are not disturbed.
    The id says which dead letter was replayed, so replaying the same one twice is de-duplicated.
    """
    letter = await get_dead_letter(js, seq)
    if letter is None or not letter.original_subject:
        raise LookupError(f"no dead letter at sequence {seq}")
    ack = await js.publish(
        letter.original_subject, letter.body.encode(), headers={"Nats-Msg-Id": f"replay-dl-{seq}"}
    )
    return int(ack.seq)
