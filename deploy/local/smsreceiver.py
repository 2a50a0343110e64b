"""A local SMS provider for `make run` and the tests: the shape of Twilio's Messages API, no phones.

No SMS provider is reachable from a development machine, so the notifications service's SMS adapter
talks to this instead (`RN_SMS_API_URL`). It answers what Twilio answers:

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth (account sid, auth token),
  form-encoded `To`, `From`, `Body` and an optional `StatusCallback`: 201 with the message resource
  (status `queued`); 401 `{"code": 20003, ...}` for wrong credentials; 400 with Twilio's error codes
  for a number that is not E.164 (21211 `To`, 21212 `From`), a missing body (21602) or a long one (21617).
- `GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`: the message, with its current status.
- About 0.2 s after a send, the message is `delivered` (or `failed`, error 30003, for a number made
  undeliverable) and, if the send named a `StatusCallback`, that URL gets a form-encoded POST with
  `MessageSid`, `MessageStatus`, `To`, `From`, `AccountSid` (and `SmsSid`, `SmsStatus`, `ApiVersion`,
  `ErrorCode` when failed), signed in `X-Twilio-Signature` exactly as Twilio signs
  (`twilio_signature`). One attempt, as Twilio makes by default; its outcome is in the log.

What a developer reads, and what tests steer:

- `GET /messages[?to=+1555...]`: every accepted message, newest last, with its status and what became
  of its callback. Each is also a JSON line in `<data>/sms.jsonl` (a message's line is written again
  when its status changes; the last line for a sid wins), loaded again at start.
- `POST /control/fail` `{"status": 500, "count": N}`: the next N sends answer that status (-1: until
  reset, 0: stop failing); `POST /control/undeliverable` `{"numbers": [...]}`: those numbers (added to
  the ones already named) get `failed`; `POST /control/reset`: forget both and every message.

Run: `RN_SMS_ACCOUNT_SID=AC... RN_SMS_AUTH_TOKEN=... python -m deploy.local.smsreceiver --port 8190
--data .data` (deploy/local/stack.py does, with the dev credentials it keeps in the data folder).
A dev tool, never deployed: its process log names a message's sid, number and status, as a
provider's own log would; bodies are kept only in its message file.
"""

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

API_VERSION = "2010-04-01"
E164 = re.compile(r"\+[0-9]{8,15}")
MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies (error 21617)
CALLBACK_DELAY_SECONDS = 0.2
CALLBACK_TIMEOUT_SECONDS = 5.0
UNREACHABLE = "30003"  # Twilio's error code for a handset that could not be reached
SIGNATURE_HEADER = "X-Twilio-Signature"
# What `GET /messages` shows of each message (sms.jsonl holds the whole resource).
LOG_FIELDS = (
    "sid",
    "date_created",
    "to",
    "from",
    "body",
    "status",
    "error_code",
    "status_callback",
    "callback",
)

log = logging.getLogger("smsreceiver")


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's request signature: base64 of HMAC-SHA1, keyed with the auth token, over the full URL
    (query string included) followed by each POST parameter's name and value, sorted by name."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def rfc2822(at: datetime) -> str:
    """Twilio's resources give dates as RFC 2822: `Thu, 24 Aug 2023 05:01:45 +0000`."""
    return format_datetime(at.astimezone(UTC).replace(microsecond=0))


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class FailControl(BaseModel):
    status: int = Field(500, ge=400, le=599)
    count: int = Field(1, ge=-1)


class UndeliverableControl(BaseModel):
    numbers: list[str]


class Receiver:
    """The accepted messages, the fault controls and the message file."""

    def __init__(self, account_sid: str, auth_token: str, data_dir: Path) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        data_dir.mkdir(parents=True, exist_ok=True)
        self.file = data_dir / "sms.jsonl"
        self.messages: dict[str, dict[str, Any]] = {}  # by sid, in the order they were accepted
        self.fail_status = 500
        self.fail_count = 0  # sends still to refuse; -1: every one until reset
        self.undeliverable: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.load()

    def load(self) -> None:
        if not self.file.exists():
            return
        for line in self.file.read_text().splitlines():
            if line.strip():
                message = json.loads(line)
                self.messages[message["sid"]] = message  # a later line of a sid is its newer state

    def write(self, message: dict[str, Any]) -> None:
        with self.file.open("a") as f:
            f.write(json.dumps(message) + "\n")

    def reset(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.messages.clear()
        self.file.write_text("")
        self.fail_count, self.fail_status = 0, 500
        self.undeliverable.clear()

    def take_failure(self) -> int | None:
        """The status the next send must answer, if a test asked for failures."""
        if self.fail_count == 0:
            return None
        if self.fail_count > 0:
            self.fail_count -= 1
        return self.fail_status

    def resource(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as Twilio's API shows it (without this receiver's own bookkeeping)."""
        return {k: v for k, v in message.items() if k not in {"status_callback", "callback"}}


def message_uri(account_sid: str, sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"


def create_app(account_sid: str, auth_token: str, data_dir: Path) -> FastAPI:
    receiver = Receiver(account_sid, auth_token, data_dir)
    clients: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=CALLBACK_TIMEOUT_SECONDS) as client:
            clients.append(client)
            # Messages a previous run accepted but had not settled yet get their verdict and callback now.
            for sid, message in list(receiver.messages.items()):
                if message["status"] == "queued":
                    schedule(sid)
            yield
            for task in list(receiver.tasks):
                task.cancel()

    app = FastAPI(title="Local SMS provider (Twilio Messages API shape)", lifespan=lifespan)
    app.state.receiver = receiver

    def authenticated(request: Request, path_sid: str) -> bool:
        given = basic_credentials(request)
        if given is None:
            return False
        user, password = given
        return (
            hmac.compare_digest(user, receiver.account_sid)
            and hmac.compare_digest(password, receiver.auth_token)
            and path_sid == receiver.account_sid
        )

    async def settle(sid: str) -> None:
        """The carrier's verdict, then the status callback, as Twilio reports them."""
        await asyncio.sleep(CALLBACK_DELAY_SECONDS)
        message = receiver.messages.get(sid)
        if message is None:  # reset meanwhile
            return
        failed = message["to"] in receiver.undeliverable
        now = datetime.now(UTC)
        message["status"] = "failed" if failed else "delivered"
        message["error_code"] = int(UNREACHABLE) if failed else None
        message["error_message"] = "Unreachable destination handset" if failed else None
        message["date_sent"] = message["date_updated"] = rfc2822(now)
        url = message.get("status_callback")
        if url:
            params = {
                "AccountSid": receiver.account_sid,
                "ApiVersion": API_VERSION,
                "From": message["from"],
                "MessageSid": sid,
                "MessageStatus": message["status"],
                "SmsSid": sid,
                "SmsStatus": message["status"],
                "To": message["to"],
            }
            if failed:
                params["ErrorCode"] = UNREACHABLE
            headers = {
                SIGNATURE_HEADER: twilio_signature(receiver.auth_token, url, params),
                "Content-Type": "application/x-www-form-urlencoded",
                "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
                "User-Agent": "TwilioProxy/1.1 (rn local sms receiver)",
            }
            outcome: dict[str, Any] = {"status": message["status"], "at": now.isoformat()}
            try:
                answer = await clients[0].post(url, content=urlencode(params), headers=headers)
                outcome["answered"] = answer.status_code
            except httpx.HTTPError as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            message["callback"] = outcome
            said = outcome.get("answered") or outcome.get("error")
            log.info("status callback for %s (%s): %s", sid, message["status"], said)
        if receiver.messages.get(sid) is message:
            receiver.write(message)

    def schedule(sid: str) -> None:
        task = asyncio.create_task(settle(sid))
        receiver.tasks.add(task)
        task.add_done_callback(receiver.tasks.discard)

    @app.post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json", status_code=201)
    async def send(account_sid: str, request: Request) -> JSONResponse:
        failure = receiver.take_failure()
        if failure is not None:
            return twilio_error(failure, 20000 + failure, phrase(failure))
        if not authenticated(request, account_sid):
            return twilio_error(401, 20003, "Authenticate")
        form = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        callback = form.get("StatusCallback") or None
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not E164.fullmatch(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not E164.fullmatch(sender):
            text = f"The 'From' number {sender} is not a valid phone number"
            return twilio_error(400, 21212, f"{text}, shortcode, or alphanumeric sender ID.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            return twilio_error(
                400, 21617, f"The concatenated message body exceeds the {MAX_BODY_CHARS} character limit."
            )
        if callback is not None and urlsplit(callback).scheme not in {"http", "https"}:
            return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        sid = "SM" + secrets.token_hex(16)
        now = rfc2822(datetime.now(UTC))
        message = {
            "sid": sid,
            "account_sid": receiver.account_sid,
            "api_version": API_VERSION,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),  # GSM-7 segments
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": message_uri(receiver.account_sid, sid),
            "subresource_uris": {
                "media": message_uri(receiver.account_sid, sid).replace(".json", "/Media.json")
            },
            "status_callback": callback,
            "callback": None,
        }
        receiver.messages[sid] = message
        receiver.write(message)
        log.info("accepted %s", sid)  # no number: logs hold ids only
        schedule(sid)
        return JSONResponse(receiver.resource(message), status_code=201)

    @app.get(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{sid}}.json")
    async def fetch(account_sid: str, sid: str, request: Request) -> JSONResponse:
        if not authenticated(request, account_sid):
            return twilio_error(401, 20003, "Authenticate")
        message = receiver.messages.get(sid)
        if message is None:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(receiver.resource(message))

    @app.get("/messages")
    async def messages(to: str | None = None) -> dict[str, list[dict[str, Any]]]:
        return {
            "messages": [
                {key: m[key] for key in LOG_FIELDS}
                for m in receiver.messages.values()
                if to is None or m["to"] == to
            ]
        }

    @app.post("/control/fail")
    async def fail(control: FailControl) -> dict[str, int]:
        receiver.fail_status, receiver.fail_count = control.status, control.count
        return {"status": receiver.fail_status, "count": receiver.fail_count}

    @app.post("/control/undeliverable")
    async def undeliverable(control: UndeliverableControl) -> dict[str, list[str]]:
        receiver.undeliverable.update(control.numbers)
        return {"numbers": sorted(receiver.undeliverable)}

    @app.post("/control/reset", status_code=204)
    async def reset() -> None:
        receiver.reset()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/messages")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="A local SMS provider with the shape of Twilio's API.")
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--host", default=os.environ.get("RN_HTTP_HOST", "127.0.0.1"))
    parser.add_argument("--data", type=Path, required=True, help="where sms.jsonl lives")
    args = parser.parse_args()
    account_sid = os.environ.get("RN_SMS_ACCOUNT_SID", "")
    auth_token = os.environ.get("RN_SMS_AUTH_TOKEN", "")
    if not account_sid or not auth_token:
        raise SystemExit("set RN_SMS_ACCOUNT_SID and RN_SMS_AUTH_TOKEN (the credentials it accepts)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the callback's outcome is logged once, above
    app = create_app(account_sid, auth_token, args.data)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
