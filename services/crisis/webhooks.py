"""Signed webhooks: each escalation POSTed to the organization's endpoint until it says 2xx.

Deliveries are documents (one per escalation event, keyed by the event id so a redelivered event
adds nothing) leased by revision (shared.revisions) by a loop, like escalation deadlines: a
restart loses none, two replicas never make the same attempt twice. Every attempt is logged; a
delivery that runs out of attempts writes a line in the case timeline, where responders look.
"""

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo.errors import DuplicateKeyError

from contracts.crisis import CrisisEscalated
from services.crisis import model, service, store
from shared import egress
from shared.crypto import Sealer
from shared.http import Problem
from shared.messaging.publisher import EventPublisher
from shared.revisions import REV, write_revision

log = logging.getLogger(__name__)
Db = service.Db
SIGNATURE_HEADER = "X-RN-Signature"
TIMESTAMP_HEADER = "X-RN-Timestamp"
LEASE = timedelta(seconds=30)  # a claimed attempt that never reports back is tried again after this
MAX_DELAY = timedelta(minutes=10)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`: a receiver checks both, so an old request cannot be replayed."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def retry_delay(attempt: int, base_seconds: float) -> timedelta:
    """Wait before attempt `attempt + 1`: base, 4xbase, 16xbase ..., capped."""
    return min(timedelta(seconds=base_seconds * 4 ** (attempt - 1)), MAX_DELAY)


async def register_endpoint(db: Db, sealer: Sealer, org: str, url: str, *, allow_private: bool) -> str:
    """Save the endpoint if it is somewhere we send to (https, a public host); 422 says why not.

    A name that does not resolve is refused too: it cannot be checked, and an admin who mistyped it
    learns now, not from a failed delivery in the middle of a crisis.
    """
    try:
        await egress.vet_url(url, allow_private=allow_private)
    except egress.Refused as exc:
        raise Problem(422, "Invalid webhook", str(exc)) from exc
    return await _save_endpoint(db, sealer, org, url)


async def _save_endpoint(db: Db, sealer: Sealer, org: str, url: str) -> str:
    """Register (or replace) the organization's endpoint; returns the new signing secret, shown once."""
    secret = new_secret()
    sealed = sealer.seal(org, "webhook", secret)
    await store.webhooks(db, org).find_one_and_update(
        {}, {"$set": {"url": url, "secret": sealed}}, upsert=True
    )
    return secret


async def delete_endpoint(db: Db, org: str) -> None:
    """Stop posting; deliveries still pending give up with a timeline line."""
    await store.webhooks(db, org).delete_many()


async def attempts(db: Db, org: str, case_id: str | None) -> list[dict[str, Any]]:
    """Every delivery attempt (of one case, if given), newest first."""
    query: dict[str, Any] = {"case_id": case_id} if case_id else {}
    docs = await store.webhook_attempts(db, org).find(query, limit=1000)
    fields = ("delivery_id", "case_id", "attempt", "at", "status", "error", "ok")
    return sorted(({k: d.get(k) for k in fields} for d in docs), key=lambda d: d["at"], reverse=True)


async def enqueue(db: Db, event: CrisisEscalated, now: datetime) -> bool:
    """A delivery for an escalation, if the organization has an endpoint; idempotent per event."""
    if await store.webhooks(db, event.org).find_one({}) is None:
        return False
    try:
        await store.webhook_deliveries(db, event.org).insert_one(
            {
                "_id": event.id,
                "case_id": event.data.case_id,
                "body": event.model_dump_json(),
                "attempts": 0,
                "state": "pending",
                "next_at": now,
                REV: 0,
            }
        )
    except DuplicateKeyError:
        pass
    return True


async def deliver_due(
    db: Db,
    publisher: EventPublisher,
    sealer: Sealer,
    client: httpx.AsyncClient,
    *,
    now: datetime,
    max_attempts: int,
    backoff_base: float,
) -> int:
    """Claim and try every delivery that is due; returns how many attempts were made."""
    made = 0
    due = {"state": "pending", "next_at": {"$lte": now}}
    for delivery in await db.webhook_deliveries.find(due, sort=[("next_at", 1)], limit=100).to_list():
        # The lease: whoever writes the next revision makes this attempt; a replica that loses skips it.
        attempt = delivery["attempts"] + 1
        lease = {"next_at": now + LEASE, "attempts": attempt}
        if not await write_revision(db.webhook_deliveries, delivery["_id"], delivery[REV], lease):
            continue
        made += 1
        claimed = {**delivery, **lease, REV: delivery[REV] + 1}
        await _attempt(db, publisher, sealer, client, claimed, now, max_attempts, backoff_base)
    return made


async def _attempt(
    db: Db,
    publisher: EventPublisher,
    sealer: Sealer,
    client: httpx.AsyncClient,
    delivery: dict[str, Any],
    now: datetime,
    max_attempts: int,
    backoff_base: float,
) -> None:
    org, attempt = delivery["org"], delivery["attempts"]
    endpoint = await store.webhooks(db, org).find_one({})
    status: int | None = None
    error: str | None = None
    if endpoint is None:
        error = "endpoint removed"
    else:
        body = delivery["body"].encode()
        timestamp = int(time.time())
        secret = sealer.open(org, "webhook", endpoint["secret"])
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "X-RN-Event-Id": delivery["_id"],
        }
        try:
            response = await client.post(endpoint["url"], content=body, headers=headers)
            status = response.status_code
        except egress.Refused as exc:  # checked again at every send: the name may point inside now
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
    ok = status is not None and 200 <= status < 300
    await store.webhook_attempts(db, org).insert_one(
        {"delivery_id": delivery["_id"], "case_id": delivery["case_id"],
         "attempt": attempt, "at": now, "status": status, "error": error, "ok": ok}
    )  # fmt: skip
    deliveries, rev = db.webhook_deliveries, delivery[REV]
    if ok:
        await write_revision(deliveries, delivery["_id"], rev, {"state": "delivered"})
        return
    if attempt < max_attempts and endpoint is not None:
        next_at = now + retry_delay(attempt, backoff_base)
        await write_revision(deliveries, delivery["_id"], rev, {"next_at": next_at})
        return
    await write_revision(deliveries, delivery["_id"], rev, {"state": "failed"})

    def note_failure(case: model.Case) -> list[Any]:
        case.note(now, "webhook_failed", attempts=attempt, status=status, error=error)
        return []

    await service.change_case(db, publisher, org, delivery["case_id"], note_failure)


async def run_deliveries(
    db: Db,
    publisher: EventPublisher,
    sealer: Sealer,
    *,
    interval: float,
    request_timeout: float,
    max_attempts: int,
    backoff_base: float,
    allow_private: bool,
) -> None:
    # No redirects and no proxies from the environment: either would send somewhere not vetted.
    transport = egress.EgressTransport(allow_private=allow_private)
    client = httpx.AsyncClient(
        transport=transport, timeout=request_timeout, follow_redirects=False, trust_env=False
    )
    async with client:
        while True:
            try:
                await deliver_due(
                    db, publisher, sealer, client, now=service.utcnow(),
                    max_attempts=max_attempts, backoff_base=backoff_base,
                )  # fmt: skip
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery round failed; trying again")
            await asyncio.sleep(interval)
