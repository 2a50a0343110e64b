"""Signed webhooks to a real local HTTP endpoint: Standard Webhooks signatures (checked with the
reference library), retries with back-off, giving up loudly."""

import asyncio
import base64
import ipaddress
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from standardwebhooks import Webhook

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from deploy.local.stack import free_port
from services.crisis import api, store, webhooks
from services.crisis.settings import Settings
from shared import egress
from shared.auth.fastapi import current_principal
from shared.auth.principal import Principal, Role
from shared.crypto import Sealer
from shared.http import install_problem_handlers
from shared.messaging.publisher import EventPublisher
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
        event = headers.get("webhook-id")
        nth = sum(1 for h, _ in self.received if h.get("webhook-id") == event)
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
    # The same id on a retry: a receiver drops a repeat by it.
    assert first_headers["webhook-id"] == retry_headers["webhook-id"] == body["id"]
    for headers in (first_headers, retry_headers):
        assert Webhook(secret).verify(raw, headers) == body  # the reference verifier, not our own code

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


async def test_cloud_metadata_is_refused_even_where_private_targets_are_allowed(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    for url in ("https://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/"):
        r = await http.put(f"{fast_protocol}/crisis/webhook", json={"url": url}, headers=admin)
        assert r.status_code == 422 and "metadata" in r.json()["detail"], url


def test_production_refuses_to_allow_private_webhook_targets() -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "jwks_url": "https://id.example.org/jwks",
        "notes_master_key": base64.b64encode(b"a production key of 32 bytes, ok").decode(),
        "console_session_secret": "a-real-secret",
        "public_url": "https://crisis.example.org",
    }
    assert not Settings(**production).webhook_allow_private_targets
    with pytest.raises(ValidationError, match="RN_WEBHOOK_ALLOW_PRIVATE_TARGETS"):
        Settings(**production, webhook_allow_private_targets=True)


def crisis_routes(allow_private: bool) -> FastAPI:
    """The crisis routes in this process, for an org-a admin, as a deployment configures them: the
    running test network allows private targets for its receivers, so it cannot show them refused."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(api.router)
    app.dependency_overrides[current_principal] = lambda: Principal(
        "org-a-admin", "org-a", frozenset({Role.ORG_ADMIN})
    )
    app.state.settings = Settings(
        jwt_public_key_file=Path("unused"), webhook_allow_private_targets=allow_private
    )
    app.state.db = None  # a refused endpoint is never saved
    app.state.sealer = Sealer(b"k" * 32)
    return app


async def test_a_webhook_to_an_internal_address_is_refused_at_registration() -> None:
    transport = httpx.ASGITransport(crisis_routes(allow_private=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://crisis") as client:
        for url, why in {
            "https://127.0.0.1/hook": "127.0.0.1 is a loopback address",
            "https://169.254.169.254/": "169.254.169.254 is a cloud metadata address",
            "https://10.0.0.7/hook": "10.0.0.7 is a private address",
            "https://[::1]/hook": "::1 is a loopback address",
            "https://localhost/hook": "localhost resolves to a loopback address",
            "http://127.0.0.1:8080/hook": "the endpoint must use https",
        }.items():
            r = await client.put("/crisis/webhook", json={"url": url})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", url
            assert r.json()["detail"] == why


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def resolving_to(address: str) -> Callable[[str, int], Awaitable[list[egress.IPAddress]]]:
    async def fake(host: str, port: int) -> list[egress.IPAddress]:
        return [ipaddress.ip_address(address)]

    return fake


async def test_a_name_that_points_inside_after_registration_is_refused_at_send_time(
    scratch_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sealer = Sealer(b"k" * 32)
    monkeypatch.setattr(egress, "resolve", resolving_to("93.184.215.14"))
    url = "https://hooks.example.org/rn"
    await webhooks.register_endpoint(scratch_db, sealer, "org-a", url, allow_private=False)
    data = CrisisEscalatedData(case_id="case-1", level=1, severity="high", responder_ids=["esc-1"])
    event = CrisisEscalated(source="crisis", org="org-a", subject="case-1", data=data)
    assert await webhooks.enqueue(scratch_db, event, NOW)

    monkeypatch.setattr(egress, "resolve", resolving_to("10.0.0.7"))  # the name now points inside
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    transport = egress.EgressTransport(inner=httpx.MockTransport(record))
    unused = cast(
        EventPublisher, object()
    )  # only a delivery that gives up publishes, and this one has tries left
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        made = await webhooks.attempt(
            scratch_db, unused, sealer, client, event.id, now=NOW, max_attempts=3, backoff_base=1.0
        )

    assert made and sent == []
    (attempt,) = await store.webhook_attempts(scratch_db, "org-a").find({})
    assert (attempt["delivery_id"], attempt["ok"], attempt["status"]) == (event.id, False, None)
    assert attempt["error"] == "refused: hooks.example.org resolves to a private address"
    delivery = await store.webhook_deliveries(scratch_db, "org-a").find_one({"_id": event.id})
    assert delivery is not None and delivery["state"] == "pending"  # tried again later, as any failure


async def test_an_endpoint_registered_before_standard_webhooks_is_signed_with_its_secret_as_bytes(
    scratch_db: AsyncDatabase[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets issued before were `whsec_` + URL-safe base64, which is not the standard's base64: they
    keep working, and the receiver verifies with the secret's own bytes (shared.webhooks)."""
    sealer = Sealer(b"k" * 32)
    legacy = "whsec_" + secrets.token_urlsafe(32)
    sealed = sealer.seal("org-a", "webhook", legacy)
    update = {"$set": {"url": "https://hooks.example.org/rn", "secret": sealed}}
    await store.webhooks(scratch_db, "org-a").find_one_and_update({}, update, upsert=True)
    monkeypatch.setattr(egress, "resolve", resolving_to("93.184.215.14"))
    data = CrisisEscalatedData(case_id="case-1", level=1, severity="high", responder_ids=["esc-1"])
    event = CrisisEscalated(source="crisis", org="org-a", subject="case-1", data=data)
    assert await webhooks.enqueue(scratch_db, event, NOW)
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    transport = egress.EgressTransport(inner=httpx.MockTransport(record))
    unused = cast(EventPublisher, object())  # only a delivery that gives up publishes
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        await webhooks.attempt(
            scratch_db, unused, sealer, client, event.id, now=NOW, max_attempts=3, backoff_base=1.0
        )

    (request,) = sent
    assert request.headers["webhook-id"] == event.id
    assert Webhook(legacy.encode()).verify(request.content, dict(request.headers))["id"] == event.id
    delivery = await store.webhook_deliveries(scratch_db, "org-a").find_one({"_id": event.id})
    assert delivery is not None and delivery["state"] == "delivered"
