"""SMS through a provider with the shape of Twilio's Messages API: HTTP basic auth, a form-encoded
`To`/`From`/`Body`, and a status callback, signed by the provider, that says delivered or failed.

No provider is reachable from a development machine: `make run` and the tests point `RN_SMS_API_URL`
at a local receiver that speaks the same API (deploy/local/smsreceiver.py); this adapter is the code
that talks to the real provider.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx

from contracts.notifications import Channel
from services.notifications.channels import Outcome, Outgoing

SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY = 320  # two SMS segments: a crisis page says what and where, the link says the rest


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the full URL followed by every POST parameter's name
    and value, sorted by name, base64-encoded."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(auth_token: str, url: str, params: Mapping[str, str], given: str) -> bool:
    return hmac.compare_digest(signature(auth_token, url, params), given)


def body(out: Outgoing) -> str:
    text = f"{out.rendered.subject} {out.link}"
    return (
        text
        if len(text) <= MAX_BODY
        else out.rendered.subject[: MAX_BODY - len(out.link) - 2] + "… " + out.link
    )


class Sms:
    channel: Channel = "sms"

    def __init__(
        self, client: httpx.AsyncClient, api_url: str, account_sid: str, auth_token: str, sender: str,
        status_callback: str | None,
    ) -> None:  # fmt: skip
        self.client, self.sender, self.status_callback = client, sender, status_callback
        self.url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)

    async def send(self, out: Outgoing) -> Outcome:
        if not out.person.phone:
            return Outcome(ok=False, reason="no number", retry=False)
        form = {"To": out.person.phone, "From": self.sender, "Body": body(out)}
        if self.status_callback:  # names the delivery, so the report finds it by key
            form["StatusCallback"] = f"{self.status_callback}?{urlencode({'delivery': out.delivery_id})}"
        try:
            response = await self.client.post(self.url, data=form, auth=self.auth)
        except httpx.HTTPError as exc:
            return Outcome(ok=False, reason=type(exc).__name__)
        if response.is_success:
            try:
                sid = response.json().get("sid")
            except ValueError:  # accepted all the same: only its status report will be missing
                sid = None
            return Outcome(ok=True, provider_id=str(sid) if sid else None)
        # 4xx: the provider refused this message (a bad number, a blocked recipient): again is no use.
        # 429 and 5xx: the provider is busy or down.
        retry = response.status_code == 429 or response.status_code >= 500
        return Outcome(ok=False, reason=f"http {response.status_code}", retry=retry)
