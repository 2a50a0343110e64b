"""Webhooks of escalations: each posted to the organization's endpoint until it says 2xx.

Signing, the vetting of addresses and the sending itself are shared.webhooks (Standard Webhooks
headers; `webhook-id` is the escalation event's id, the same on every retry). What is crisis's own:
deliveries are documents (one per escalation event, keyed by the event id so a redelivered event
adds nothing), each attempt leased by revision (shared.revisions) and timed by the shared durable
scheduler (entries in `webhook_schedule`): a restart loses none, two replicas never make the same
attempt twice, and a sender that dies mid-attempt is relieved when its lease ends. Every attempt is logged; a
delivery that runs out of attempts writes a line in the case timeline, where responders look.

Endpoints registered before deliveries were signed this way keep their secret (`whsec_` + URL-safe
base64), which shared.webhooks signs with as its own bytes; registering again issues a standard one.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo.errors import DuplicateKeyError

from contracts.crisis import CrisisEscalated
from services.crisis import model, service, store
from shared import scheduler, webhooks
from shared.crypto import Sealer
from shared.messaging.publisher import EventPublisher
from shared.revisions import REV, write_revision

Db = service.Db
LEASE = timedelta(seconds=30)  # a claimed attempt that never reports back is tried again after this


async def register_endpoint(db: Db, sealer: Sealer, org: str, url: str, *, allow_private: bool) -> str:
    """Save the endpoint if it is somewhere we send to (https, a public host); 422 says why not."""
    await webhooks.vet(url, allow_private=allow_private)
    return await _save_endpoint(db, sealer, org, url)


async def _save_endpoint(db: Db, sealer: Sealer, org: str, url: str) -> str:
    """Register (or replace) the organization's endpoint; returns the new signing secret, shown once."""
    secret = webhooks.new_secret()
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
    await _check_at(db, event.id, 0, now)
    return True


async def _check_at(db: Db, delivery_id: str, rev: int, at: datetime) -> None:
    await scheduler.schedule(db.webhook_schedule, f"{delivery_id}:{rev}", at, delivery_id=delivery_id)


async def attempt(
    db: Db,
    publisher: EventPublisher,
    sealer: Sealer,
    client: httpx.AsyncClient,
    delivery_id: str,
    *,
    now: datetime,
    max_attempts: int,
    backoff_base: float,
) -> bool:
    """Claim and make the delivery's next attempt if it is due; whether one was made."""
    delivery = await db.webhook_deliveries.find_one({"_id": delivery_id})
    if delivery is None or delivery["state"] != "pending":
        return False
    if delivery["next_at"] > now:  # not due yet, or another sender's lease still runs: look again then
        await _check_at(db, delivery_id, delivery[REV], delivery["next_at"])
        return False
    # The lease: whoever writes the next revision makes this attempt; a replica that loses skips it.
    number = delivery["attempts"] + 1
    lease = {"next_at": now + LEASE, "attempts": number}
    if not await write_revision(db.webhook_deliveries, delivery_id, delivery[REV], lease):
        return False
    claimed = {**delivery, **lease, REV: delivery[REV] + 1}
    await _check_at(db, delivery_id, claimed[REV], lease["next_at"])  # if this sender dies meanwhile
    await _attempt(db, publisher, sealer, client, claimed, now, max_attempts, backoff_base)
    return True


async def schedule_pending(db: Db) -> None:
    """Give every pending delivery its scheduler entry: deliveries made before the scheduler timed them."""
    async for doc in db.webhook_deliveries.find({"state": "pending"}, {"next_at": 1, REV: 1}):
        await _check_at(db, doc["_id"], doc.get(REV, 0), doc["next_at"])


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
    if endpoint is None:
        outcome = webhooks.Outcome(None, "endpoint removed")
    else:
        secret = sealer.open(org, "webhook", endpoint["secret"])
        body = delivery["body"].encode()
        # Signed with the time it leaves, not the round's: a round's attempts go one after another,
        # each up to the timeout, and receivers refuse a timestamp more than five minutes off.
        sent_at = service.utcnow()
        outcome = await webhooks.post(client, endpoint["url"], secret, delivery["_id"], body, sent_at)
    status, error, ok = outcome.status, outcome.error, outcome.ok
    await store.webhook_attempts(db, org).insert_one(
        {"delivery_id": delivery["_id"], "case_id": delivery["case_id"],
         "attempt": attempt, "at": now, "status": status, "error": error, "ok": ok}
    )  # fmt: skip
    deliveries, rev = db.webhook_deliveries, delivery[REV]
    if ok:
        await write_revision(deliveries, delivery["_id"], rev, {"state": "delivered"})
        return
    if attempt < max_attempts and endpoint is not None:
        next_at = now + scheduler.backoff(attempt, backoff_base)
        if await write_revision(deliveries, delivery["_id"], rev, {"next_at": next_at}):
            await _check_at(db, delivery["_id"], rev + 1, next_at)
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
    async with webhooks.client(allow_private=allow_private, timeout=request_timeout) as client:

        async def fire(entry: dict[str, Any]) -> None:
            await attempt(
                db, publisher, sealer, client, entry["delivery_id"], now=service.utcnow(),
                max_attempts=max_attempts, backoff_base=backoff_base,
            )  # fmt: skip

        backfill = asyncio.create_task(schedule_pending(db))
        try:
            await scheduler.run(
                db.webhook_schedule, fire, interval=interval, clock=service.utcnow, name="webhook delivery"
            )
        finally:
            backfill.cancel()
