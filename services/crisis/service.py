"""Crisis use cases: load, apply the model, save with the outbox, publish.

Every change to a case goes through `change_case`: read, apply a model transition, and write back
only if nobody wrote in between (the `rev` field). That one rule makes a timer firing on two
replicas escalate once, and an acknowledgement racing an escalation come out in a clean order.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.crisis import Channel, Severity
from contracts.envelope import Event
from services.crisis import model, store
from shared.crypto import Sealer
from shared.messaging.publisher import EventPublisher
from shared.network import Network
from shared.outbox import OUTBOX, OUTBOX_AT, publish_now_or_later, with_outbox
from shared.outbox import entries as outbox_entries
from shared.revisions import REV, write_revision

log = logging.getLogger(__name__)
Db = AsyncDatabase[dict[str, Any]]
Transition = Callable[[model.Case], list[Event]]
Clock = Callable[[], datetime]
MAX_RACES = 20


class CaseNotFound(Exception):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


async def load_staff(db: Db, org: str) -> dict[str, frozenset[str]]:
    docs = await store.staff(db, org).find({}, limit=5000)
    return {d["responder_id"]: frozenset(d["roles"]) for d in docs}


async def load_rosters(db: Db, org: str) -> dict[str, model.Roster]:
    return {d["roster_id"]: store.doc_to_roster(d) for d in await store.rosters(db, org).find({}, limit=1000)}


async def load_reach(db: Db, network: Network, org: str) -> model.Reach:
    organization = network.organization(org)
    region = organization.region if organization else None
    team = await store.regional_teams(db).find_one({"_id": region}) if region else None
    return model.Reach(
        staff=await load_staff(db, org),
        rosters=await load_rosters(db, org),
        regional_team=tuple(team["responder_ids"]) if team else (),
        region=region,
    )


async def load_protocol(db: Db, org: str) -> model.Protocol:
    doc = await store.protocols(db, org).find_one({})
    return store.doc_to_protocol(doc) if doc else model.Protocol()


async def raise_alert(
    db: Db,
    publisher: EventPublisher,
    network: Network,
    *,
    org: str,
    member_id: str,
    severity: Severity,
    channel: Channel,
    by: str,
    dedup_key: str | None,
    now: datetime,
) -> tuple[model.Case, bool]:
    """Open a case, or merge into the person's open case; returns the case and whether it is new."""
    key = dedup_key or member_id
    case, events = model.raise_case(
        org=org,
        member_id=member_id,
        severity=severity,
        channel=channel,
        dedup_key=key,
        protocol=await load_protocol(db, org),
        reach=await load_reach(db, network, org),
        now=now,
        reported_by=by,
    )
    try:
        # One write holds the case and its events: they cannot diverge.
        await store.cases(db, org).insert_one({**with_outbox(store.case_to_doc(case), events), REV: 0})
    except DuplicateKeyError:
        # The unique open key says this person already has an open case: that case gets the alert.
        for _ in range(MAX_RACES):
            open_doc = await store.cases(db, org).find_one({store.OPEN_KEY: key})
            if open_doc is None:  # closed in between: open a fresh one
                return await raise_alert(
                    db,
                    publisher,
                    network,
                    org=org,
                    member_id=member_id,
                    severity=severity,
                    channel=channel,
                    by=by,
                    dedup_key=dedup_key,
                    now=now,
                )

            def merge(c: model.Case) -> list[Event]:
                model.merge_alert(c, severity=severity, channel=channel, by=by, now=now)
                return []

            merged = await change_case(db, publisher, org, open_doc["_id"], merge)
            if merged is not None:
                return merged, False
        raise
    await publish_now_or_later(db.cases, case.id, publisher)
    return case, True


async def change_case(
    db: Db, publisher: EventPublisher, org: str, case_id: str, transition: Transition
) -> model.Case | None:
    """Apply one model transition to a case and save it with its events; None if there is no case.

    A write lost to a concurrent writer (shared.revisions) is retried on the fresh document, where
    the transition usually finds nothing left to do (the deadline already moved on, the case already
    acknowledged). Model exceptions (InvalidTransition) propagate with nothing written.
    """
    cases = store.cases(db, org)
    for _ in range(MAX_RACES):
        doc = await cases.find_one({"_id": case_id})
        if doc is None:
            return None
        case = store.doc_to_case(doc)
        before = store.case_to_doc(case)
        events = transition(case)
        after = store.case_to_doc(case)
        if after == before and not events:
            return case
        del after["_id"]
        if events:
            after[OUTBOX_AT] = datetime.now(UTC)
        pending = {OUTBOX: outbox_entries(events)} if events else None
        if await write_revision(db.cases, case_id, doc.get(REV, 0), after, pending):
            if events:
                await publish_now_or_later(db.cases, case_id, publisher)
            return case
    raise RuntimeError(f"case {case_id} changed under us {MAX_RACES} times in a row")


async def fire_due(db: Db, publisher: EventPublisher, network: Network, now: datetime) -> int:
    """Fire every escalation deadline that has passed; returns how many cases changed."""
    due = db.cases.find(
        {"deadline": {"$lte": now}, "state": {"$in": list(model.OPEN_STATES)}},
        {"_id": 1, "org": 1},
        sort=[("deadline", 1)],
        limit=200,
    )
    fired = 0
    async for doc in due:
        reach = await load_reach(db, network, doc["org"])
        case = await change_case(db, publisher, doc["org"], doc["_id"], _deadline_of(reach, now))
        fired += case is not None
    return fired


def _deadline_of(reach: model.Reach, now: datetime) -> Transition:
    return lambda case: model.on_deadline(case, reach, now)


async def run_timers(
    db: Db, publisher: EventPublisher, network: Callable[[], Network], interval: float, clock: Clock = utcnow
) -> None:
    """The scheduler loop: deadlines live in the case documents, so a restart loses none of them."""
    while True:
        try:
            await fire_due(db, publisher, network(), clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("escalation timer round failed; trying again")
        await asyncio.sleep(interval)


async def read_case(db: Db, org: str, case_id: str, reader: str, now: datetime) -> model.Case | None:
    """Every read of a case leaves an audit entry: who, when, which case."""
    doc = await store.cases(db, org).find_one({"_id": case_id})
    if doc is None:
        return None
    await store.audit(db, org).insert_one({"case_id": case_id, "reader": reader, "at": now, "action": "read"})
    return store.doc_to_case(doc)


async def add_note(
    db: Db, sealer: Sealer, org: str, case_id: str, author: str, text: str, now: datetime
) -> bool:
    entry = {"at": now, "author": author, "sealed": sealer.seal(org, case_id, text)}
    updated = await store.cases(db, org).find_one_and_update(
        {"_id": case_id}, {"$push": {store.NOTES: entry}}
    )
    return updated is not None


async def read_notes(db: Db, sealer: Sealer, org: str, case_id: str) -> list[dict[str, Any]]:
    doc = await store.cases(db, org).find_one({"_id": case_id})
    return [
        {"at": n["at"], "author": n["author"], "text": sealer.open(org, case_id, n["sealed"])}
        for n in (doc or {}).get(store.NOTES, [])
    ]


async def save_staff(db: Db, org: str, responder_id: str, roles: list[str]) -> None:
    await store.staff(db, org).find_one_and_update(
        {"responder_id": responder_id}, {"$set": {"responder_id": responder_id, "roles": roles}}, upsert=True
    )


async def save_roster(db: Db, org: str, roster: model.Roster) -> None:
    """Refuses (model.NobodyToReach) a roster naming people who are not on the crisis staff."""
    model.check_roster(roster, await load_staff(db, org))
    await store.rosters(db, org).find_one_and_update(
        {"roster_id": roster.id}, {"$set": store.roster_to_doc(roster)}, upsert=True
    )


async def save_protocol(db: Db, network: Network, org: str, protocol: model.Protocol) -> None:
    """Refuses (model.NobodyToReach) a protocol that could end with nobody."""
    model.check_protocol(protocol, await load_reach(db, network, org))
    await store.protocols(db, org).find_one_and_update(
        {}, {"$set": store.protocol_to_doc(protocol)}, upsert=True
    )


async def save_regional_team(db: Db, region: str, responder_ids: list[str]) -> None:
    await store.regional_teams(db).find_one_and_update(
        {"_id": region}, {"$set": {"responder_ids": responder_ids}}, upsert=True
    )
