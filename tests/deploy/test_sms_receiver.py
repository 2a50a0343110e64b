"""The local SMS receiver answers as Twilio's Messages API does and calls back as Twilio does.

It runs as its own process (the session stack's), so these tests see what the notifications service
sees: HTTP basic auth, form-encoded sends, Twilio's error bodies, and status callbacks signed with
`X-Twilio-Signature`, checked here by an implementation of Twilio's algorithm written apart from it.
"""

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from deploy.local.smsreceiver import twilio_signature
from deploy.local.stack import SMS_FROM, Stack, free_port
from tests.helpers import SmsReceiver, eventually


def expected_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented algorithm, written apart from the receiver's: the URL, then each POST
    parameter's name and value in the order of the names, HMAC-SHA1 with the auth token, base64."""
    signed = bytearray(url.encode())
    for name, value in sorted(params.items(), key=lambda item: item[0]):
        signed += name.encode() + value.encode()
    return base64.b64encode(hmac.digest(auth_token.encode(), bytes(signed), hashlib.sha1)).decode()


def test_the_signature_is_twilios_on_twilios_own_example() -> None:
    # The URL, parameters, token and signature of the request-validator tests in Twilio's Python library.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert expected_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


@dataclass
class CallbackReceiver:
    """A tiny HTTP server that records each POST (path, headers, form) and answers 204."""

    port: int = field(default_factory=free_port)
    received: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *header_lines = head.strip().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((request_line.split()[1], headers, dict(parse_qsl(body.decode()))))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    yield receiver
    server.close()
    await server.wait_closed()


def messages_url(stack: Stack, account_sid: str | None = None) -> str:
    return f"{stack.sms_url}/2010-04-01/Accounts/{account_sid or stack.sms_account_sid}/Messages.json"


async def send(
    http: httpx.AsyncClient, stack: Stack, to: str, *, callback: str | None = None, body: str = "Hello"
) -> httpx.Response:
    form = {"To": to, "From": SMS_FROM, "Body": body}
    if callback:
        form["StatusCallback"] = callback
    auth = (stack.sms_account_sid, stack.sms_auth_token)
    return await http.post(messages_url(stack), data=form, auth=auth)


async def test_a_send_answers_201_with_the_message_resource_and_lands_in_the_log(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient
) -> None:
    r = await send(http, stack, "+15550001001", body="Your mentor match is ready")
    assert r.status_code == 201, r.text
    message = r.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message["account_sid"] == stack.sms_account_sid
    assert (message["to"], message["from"]) == ("+15550001001", SMS_FROM)
    assert message["body"] == "Your mentor match is ready"
    assert message["status"] == "queued"
    assert message["uri"] == f"/2010-04-01/Accounts/{stack.sms_account_sid}/Messages/{message['sid']}.json"
    assert parsedate_to_datetime(message["date_created"]).tzinfo is not None  # RFC 2822, as Twilio's

    (logged,) = await sms.wait_for("+15550001001")
    assert logged["sid"] == message["sid"] and logged["body"] == "Your mentor match is ready"

    async def delivered() -> bool:
        (entry,) = await sms.messages("+15550001001")
        return bool(entry["status"] == "delivered")

    await eventually(delivered, within=5)
    auth = (stack.sms_account_sid, stack.sms_auth_token)
    fetched = await http.get(f"{stack.sms_url}{message['uri']}", auth=auth)
    assert fetched.status_code == 200 and fetched.json()["status"] == "delivered"
    assert await sms.messages("+15550009999") == []


async def test_wrong_credentials_answer_401_as_twilio_does(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient
) -> None:
    form = {"To": "+15550001002", "From": SMS_FROM, "Body": "x"}
    other_account = "AC" + "0" * 32
    attempts = [
        http.post(messages_url(stack), data=form, auth=(stack.sms_account_sid, "wrong")),
        http.post(messages_url(stack), data=form),
        http.post(messages_url(stack, other_account), data=form, auth=(other_account, stack.sms_auth_token)),
        http.post(
            messages_url(stack, other_account), data=form, auth=(stack.sms_account_sid, stack.sms_auth_token)
        ),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 401, r.text
        assert r.json() | {"more_info": None} == {
            "code": 20003,
            "message": "Authenticate",
            "status": 401,
            "more_info": None,
        }
    assert await sms.messages("+15550001002") == []


@pytest.mark.parametrize(
    "to", ["5550001003", "+1555", "+1555000", "+15550001003123456", "+1 555 000 1003", ""]
)
async def test_a_number_that_is_not_e164_answers_400(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient, to: str
) -> None:
    r = await send(http, stack, to)
    assert r.status_code == 400, r.text
    error = r.json()
    assert error["status"] == 400
    if to:
        assert error["code"] == 21211
        assert error["message"] == f"The 'To' number {to} is not a valid phone number."
    else:
        assert error["code"] == 21604  # Twilio's "A 'To' phone number is required."
    assert to == "" or await sms.messages(to) == []


async def test_a_sender_that_is_not_e164_answers_400(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient
) -> None:
    auth = (stack.sms_account_sid, stack.sms_auth_token)
    form = {"To": "+15550001004", "From": "RecoveryNet", "Body": "x"}
    r = await http.post(messages_url(stack), data=form, auth=auth)
    assert r.status_code == 400 and r.json()["code"] == 21212


async def test_the_status_callback_is_signed_as_twilio_signs_it(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient, callbacks: CallbackReceiver
) -> None:
    await sms.undeliverable(["+15550001006"])
    url = f"{callbacks.url}/sms/status?org=org-a"  # the query string is part of what is signed
    first = (await send(http, stack, "+15550001005", callback=url)).json()
    second = (await send(http, stack, "+15550001006", callback=url)).json()

    async def both() -> bool:
        return len(callbacks.received) >= 2

    await eventually(both, within=5)
    by_sid = {form["MessageSid"]: (path, headers, form) for path, headers, form in callbacks.received}
    for message, status in ((first, "delivered"), (second, "failed")):
        path, headers, form = by_sid[message["sid"]]
        assert path == "/sms/status?org=org-a"
        assert headers["content-type"].startswith("application/x-www-form-urlencoded")
        assert form["MessageStatus"] == status
        assert (form["To"], form["From"], form["AccountSid"]) == (
            message["to"],
            SMS_FROM,
            stack.sms_account_sid,
        )
        assert headers["x-twilio-signature"] == expected_signature(stack.sms_auth_token, url, form)
        assert headers["x-twilio-signature"] != expected_signature("another token", url, form)
    assert by_sid[second["sid"]][2]["ErrorCode"] == "30003"

    # The receiver records the callback's answer once it has it: a moment after the callback arrived.
    async def logged_answer() -> dict[str, Any] | None:
        (logged,) = await sms.messages("+15550001006")
        return logged if logged["callback"] else None

    logged = await eventually(logged_answer, within=5)
    assert logged is not None
    assert logged["status"] == "failed"
    assert logged["callback"]["status"] == "failed" and logged["callback"]["answered"] == 204


async def test_fail_next_answers_500_then_the_receiver_recovers(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient
) -> None:
    await sms.fail_next(500, 2)
    for _ in range(2):
        r = await send(http, stack, "+15550001007")
        assert r.status_code == 500 and r.json()["code"] == 20500
    assert (await send(http, stack, "+15550001007")).status_code == 201

    await sms.fail_next(503, -1)  # until reset
    for _ in range(3):
        assert (await send(http, stack, "+15550001007")).status_code == 503
    await sms.reset()
    assert (await send(http, stack, "+15550001007")).status_code == 201
    assert len(await sms.messages("+15550001007")) == 1  # reset cleared the log; refused sends are not in it


async def test_the_log_survives_a_restart_of_the_receiver(
    stack: Stack, sms: SmsReceiver, http: httpx.AsyncClient
) -> None:
    sid = (await send(http, stack, "+15550001008", body="kept")).json()["sid"]

    async def delivered() -> bool:
        return [m["status"] for m in await sms.messages("+15550001008")] == ["delivered"]

    await eventually(delivered, within=5)
    stack.kill("sms-receiver")
    stack.respawn("sms-receiver")
    (logged,) = await sms.messages("+15550001008")
    assert (logged["sid"], logged["body"], logged["status"]) == (sid, "kept", "delivered")
    assert (stack.data_dir / "sms.jsonl").exists()
