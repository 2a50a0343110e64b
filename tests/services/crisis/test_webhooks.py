"""Signed webhooks to a real local HTTP endpoint: signature, retries with back-off, giving up loudly."""

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from deploy.local.stack import free_port
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually
from tests.services.crisis.conftest import raise_alert


@dataclass
class Receiver:
    """A minimal HTTP endpoint answering the n-th POST of each event with the n-th scripted status
    (the last repeats). Per event, because other tests' open cases keep escalating and are posted
    here too: scripted by arrival order, one of theirs could take the 500 meant for ours."""

    statuses: list[int]
    port: int = field(default_factory=free_port)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {
            k.lower(): v.strip()
            for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        event = headers.get("x-rn-event-id")
        nth = sum(1 for h, _ in self.received if h.get("x-rn-event-id") == event)
        status = self.statuses[min(nth, len(self.statuses)) - 1]
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver(fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    rec = Receiver(statuses=[200])
    server = await asyncio.start_server(rec.handle, "127.0.0.1", rec.port)
    yield rec
    server.close()
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    assert (await http.delete(f"{fast_protocol}/crisis/webhook", headers=admin)).status_code == 204


async def register(http: httpx.AsyncClient, url: str, tokens: Tokens, endpoint: str) -> str:
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    r = await http.put(f"{url}/crisis/webhook", json={"url": endpoint}, headers=admin)
    assert r.status_code == 200, r.text
    return str(r.json()["secret"])


async def test_an_escalation_is_posted_signed_and_retried_until_acknowledged(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses = [500, 200]
    secret = await register(http, fast_protocol, tokens, receiver.url)
    case = await raise_alert(http, fast_protocol, tokens)

    def deliveries() -> list[tuple[dict[str, str], bytes]]:
        def ours(body: dict[str, Any]) -> bool:
            return bool(body["data"]["case_id"] == case["id"] and body["data"]["level"] == 1)

        return [(h, raw) for h, raw in receiver.received if ours(json.loads(raw))]

    async def two_attempts() -> bool:
        return len(deliveries()) >= 2

    await eventually(two_attempts)
    (first_headers, raw), (retry_headers, _) = deliveries()[:2]
    body = json.loads(raw)
    assert first_headers["x-rn-event-id"] == retry_headers["x-rn-event-id"] == body["id"]
    for headers in (first_headers, retry_headers):
        timestamp = headers["x-rn-timestamp"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
        assert headers["x-rn-signature"] == f"sha256={expected}"

    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)

    async def logged() -> list[dict[str, Any]]:
        r = await http.get(
            f"{fast_protocol}/crisis/webhook/attempts", params={"case_id": case["id"]}, headers=admin
        )
        attempts = [a for a in r.json() if a["delivery_id"] == body["id"]]
        return attempts if len(attempts) >= 2 else []

    attempts = sorted(await eventually(logged), key=lambda a: a["attempt"])
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [(1, 500, False), (2, 200, True)]


async def test_a_delivery_that_never_succeeds_gives_up_in_the_case_timeline(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    await register(http, fast_protocol, tokens, receiver.url)
    case = await raise_alert(http, fast_protocol, tokens)
    responder = tokens("esc-1", "org-a", Role.RESPONDER)

    async def gave_up() -> list[dict[str, Any]]:
        r = await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)
        return [line for line in r.json()["timeline"] if line["what"] == "webhook_failed"]

    (failure, *_) = await eventually(gave_up, within=20)
    assert failure["attempts"] == 3 and failure["status"] == 503  # RN_WEBHOOK_MAX_ATTEMPTS in the test stack


async def test_a_webhook_must_be_https(fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient) -> None:
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    for url in ("http://example.org/hook", "ftp://example.org/x", "not a url"):
        r = await http.put(f"{fast_protocol}/crisis/webhook", json={"url": url}, headers=admin)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", url
