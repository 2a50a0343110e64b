"""The one sender of outbound webhooks: signed per Standard Webhooks, only to public hosts.

Signing follows the Standard Webhooks specification (https://www.standardwebhooks.com/): headers
`webhook-id` (the message id, the same on every retry, so a receiver can drop a repeat),
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">`), computed by the reference library, so a receiver verifies with any
Standard Webhooks library: `standardwebhooks.Webhook(secret).verify(body, headers)`.

Where to: the endpoint is vetted at registration (`vet`) and again at every send after DNS
resolution, and the request goes to the very address that was vetted (shared.egress); no redirects
and no proxies from the environment, either of which would send somewhere not vetted.

Secrets are `whsec_` + the base64 of 32 random bytes (`new_secret`). Crisis issued secrets of
another form before it signed this way: `whsec_` + URL-safe base64 without padding. Those do not
decode as the specification says (libraries disagree on them: the Python one drops `-` and `_` and
signs with other bytes), so a secret that is not `whsec_` + padded standard base64 signs with its
own UTF-8 bytes, the whole string, as the old `X-RN-Signature` HMAC did. It keeps working without
anyone re-registering; its receiver verifies with `standardwebhooks.Webhook(secret.encode())`, and
registering the endpoint again issues a secret of the standard form.
"""

import base64
import binascii
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import httpx
from pydantic import BaseModel, Field
from standardwebhooks import Webhook

from shared import egress
from shared.http import Problem
from shared.inputs import Strict

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 decoded, or for a secret of the older form its own bytes."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    if secret.startswith(SECRET_PREFIX) and len(encoded) % 4 == 0:
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def signed_headers(secret: str, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers of one delivery attempt of `body` (JSON, so UTF-8) made at `at` (naive means UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    # The library takes a UTC datetime (it replaces any zone with UTC) and signs whole seconds.
    signature = Webhook(signing_key(secret)).sign(msg_id, at, body.decode())
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def client(*, allow_private: bool, timeout: float) -> httpx.AsyncClient:
    """The client to `post` with: every request vetted after DNS, sent to the vetted address."""
    transport = egress.EgressTransport(allow_private=allow_private)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the receiver's status, or why there was none (`error`)."""

    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post(
    client: httpx.AsyncClient, url: str, secret: str, msg_id: str, body: bytes, at: datetime
) -> Outcome:
    """One signed attempt; a network failure or a refused address is an outcome, not an exception."""
    headers = signed_headers(secret, msg_id, body, at)
    try:
        # Streamed and never read: the status is all we need, and a receiver's body can be any size.
        async with client.stream("POST", url, content=body, headers=headers) as response:
            return Outcome(response.status_code, None)
    except egress.Refused as exc:  # checked again at every send: the name may point inside now
        return Outcome(None, f"refused: {exc}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Outcome(None, type(exc).__name__)


async def vet(url: str, *, allow_private: bool) -> None:
    """An endpoint someone registers: 422 says why we would not send there.

    A name that does not resolve is refused too: it cannot be checked, and an admin who mistyped it
    learns now, not from a failed delivery when it matters.
    """
    try:
        await egress.vet_url(url, allow_private=allow_private)
    except egress.Refused as exc:
        raise Problem(422, "Invalid webhook", str(exc)) from exc


class WebhookUpdate(Strict):
    """The body that registers an endpoint (crisis's escalations, notifications' messages)."""

    url: Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s]+$")]


class WebhookPublic(BaseModel):
    url: str
    secret: str = Field(
        description="signs every delivery (Standard Webhooks: webhook-id, webhook-timestamp, "
        "webhook-signature); shown only now"
    )
