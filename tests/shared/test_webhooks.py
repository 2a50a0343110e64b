"""The shared webhook sender: Standard Webhooks signatures checked with the reference library, and
posts to a real local HTTP receiver that only go where egress allows."""

import asyncio
import base64
import json
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shared import webhooks
from shared.http import Problem

BODY = json.dumps({"id": "evt-1", "type": "crisis.escalated.v1", "data": {"level": 1}}).encode()


def now() -> datetime:
    return datetime.now(UTC)


def test_a_new_secret_is_32_random_bytes_in_the_standard_form() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and secret != webhooks.new_secret()
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_the_reference_library_verifies_a_signed_delivery() -> None:
    secret = webhooks.new_secret()
    headers = webhooks.signed_headers(secret, "evt-1", BODY, now())

    assert set(headers) == {"Content-Type", "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt-1" and headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_tampered_body_timestamp_id_or_another_secret_is_refused() -> None:
    secret = webhooks.new_secret()
    headers = webhooks.signed_headers(secret, "evt-1", BODY, now())
    later = str(int(headers["webhook-timestamp"]) + 1)
    for body, hdrs, key in (
        (BODY.replace(b"1}", b"2}"), headers, secret),
        (BODY, {**headers, "webhook-timestamp": later}, secret),
        (BODY, {**headers, "webhook-id": "evt-2"}, secret),
        (BODY, headers, webhooks.new_secret()),
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(key).verify(body, hdrs)


def test_an_old_signature_is_refused_by_the_receiver() -> None:
    secret = webhooks.new_secret()
    headers = webhooks.signed_headers(secret, "evt-1", BODY, now() - timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_a_time_in_any_zone_signs_the_same_instant() -> None:
    secret, at = webhooks.new_secret(), now()
    east = at.astimezone(timezone(timedelta(hours=2)))
    assert webhooks.signed_headers(secret, "evt-1", BODY, east) == webhooks.signed_headers(
        secret, "evt-1", BODY, at
    )
    assert webhooks.signed_headers(secret, "evt-1", BODY, at)["webhook-timestamp"] == str(int(at.timestamp()))


def test_a_secret_issued_before_standard_webhooks_signs_with_its_own_bytes() -> None:
    legacy = "whsec_" + secrets.token_urlsafe(32)  # what crisis issued before
    headers = webhooks.signed_headers(legacy, "evt-1", BODY, now())
    assert Webhook(legacy.encode()).verify(BODY, headers) == json.loads(BODY)
    assert webhooks.signing_key(legacy) == legacy.encode()


@dataclass
class Receiver:
    """A real HTTP endpoint on this machine answering every POST with `status` (and `location`)."""

    status: int = 200
    location: str | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {
            k.lower(): v.strip()
            for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        self.received.append((headers, await reader.readexactly(int(headers.get("content-length", "0")))))
        extra = f"location: {self.location}\r\n" if self.location else ""
        writer.write(
            f"HTTP/1.1 {self.status} X\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    yield rec
    server.close()
    await server.wait_closed()


async def test_a_post_to_this_machine_is_refused_and_nothing_is_sent(receiver: Receiver) -> None:
    async with webhooks.client(allow_private=False, timeout=5) as client:
        outcome = await webhooks.post(client, receiver.url, webhooks.new_secret(), "evt-1", BODY, now())
    assert outcome == webhooks.Outcome(None, "refused: 127.0.0.1 is a loopback address")
    assert not outcome.ok and receiver.received == []


async def test_a_post_where_private_targets_are_allowed_arrives_signed(receiver: Receiver) -> None:
    secret = webhooks.new_secret()
    async with webhooks.client(allow_private=True, timeout=5) as client:
        outcome = await webhooks.post(client, receiver.url, secret, "evt-1", BODY, now())

    assert outcome == webhooks.Outcome(200, None) and outcome.ok
    ((headers, body),) = receiver.received
    assert body == BODY and headers["content-type"] == "application/json"
    assert Webhook(secret).verify(body, headers) == json.loads(BODY)


async def test_a_receiver_that_fails_or_redirects_is_not_ok_and_is_not_followed(receiver: Receiver) -> None:
    async with webhooks.client(allow_private=True, timeout=5) as client:
        receiver.status = 503
        assert await webhooks.post(client, receiver.url, webhooks.new_secret(), "e", BODY, now()) == (
            webhooks.Outcome(503, None)
        )
        receiver.status, receiver.location = 307, "http://169.254.169.254/latest/meta-data/"
        redirected = await webhooks.post(client, receiver.url, webhooks.new_secret(), "e", BODY, now())
    assert redirected == webhooks.Outcome(307, None) and not redirected.ok
    assert len(receiver.received) == 2


async def test_a_network_failure_is_an_outcome_not_an_exception() -> None:
    with socket.socket() as unused:  # a port nothing listens on once this is closed
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/hook"
    async with webhooks.client(allow_private=True, timeout=5) as client:
        outcome = await webhooks.post(client, url, webhooks.new_secret(), "evt-1", BODY, now())
    assert outcome == webhooks.Outcome(None, "ConnectError")


async def test_registration_refuses_inside_addresses_with_a_422_saying_why(receiver: Receiver) -> None:
    for url, why in {
        "https://127.0.0.1/hook": "127.0.0.1 is a loopback address",
        "https://169.254.169.254/": "169.254.169.254 is a cloud metadata address",
        "http://example.org/hook": "the endpoint must use https",
    }.items():
        with pytest.raises(Problem) as refused:
            await webhooks.vet(url, allow_private=False)
        assert (refused.value.status, refused.value.title, refused.value.detail) == (
            422,
            "Invalid webhook",
            why,
        )

    await webhooks.vet(receiver.url, allow_private=True)  # tests and local development
    with pytest.raises(Problem, match="metadata"):
        await webhooks.vet("http://169.254.169.254/", allow_private=True)
