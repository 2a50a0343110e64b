"""Outbound webhooks to an organization's own systems: every notification of the organization, signed
per Standard Webhooks by the one sender in shared/ (the same as crisis's escalation webhooks), which
refuses internal addresses at registration and again at every send."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from contracts.notifications import Channel
from services.notifications.channels import Outcome, Outgoing
from shared import webhooks


def body(out: Outgoing) -> bytes:
    """What the organization's system receives: ids and the message as the person got it, no address."""
    return json.dumps(
        {
            "type": "notification.created",
            "id": out.delivery_id,
            "org": out.org,
            "recipient_id": out.person.id,
            "title": out.rendered.subject,
            "text": out.rendered.text,
            "link": out.link,
        }
    ).encode()


class Webhook:
    channel: Channel = "webhook"

    def __init__(self, db: AsyncDatabase[dict[str, Any]], client: httpx.AsyncClient) -> None:
        self.db, self.client = db, client

    async def send(self, out: Outgoing) -> Outcome:
        endpoint = await self.db.webhooks.find_one({"_id": out.org})
        if endpoint is None:
            return Outcome(ok=False, reason="endpoint removed", retry=False)
        sent = await webhooks.post(
            self.client, endpoint["url"], endpoint["secret"], out.delivery_id, body(out), datetime.now(UTC)
        )
        if sent.ok:
            return Outcome(ok=True)
        if sent.status is None:
            return Outcome(ok=False, reason=sent.error)
        # A receiver that is down or busy may answer later; one that refuses this request will not.
        retry = sent.status >= 500 or sent.status in (408, 429)
        return Outcome(ok=False, reason=f"http {sent.status}", retry=retry)
