"""Crisis use cases: load, apply the model, save with the outbox, publish."""

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import Severity
from services.crisis import model, store
from shared.messaging.publisher import EventPublisher
from shared.outbox import publish_now_or_later, with_outbox
from shared.storage import Document


async def load_rosters(db: AsyncDatabase[Document], org: str) -> dict[str, model.Roster]:
    return {
        doc["roster_id"]: store.doc_to_roster(doc)
        for doc in await store.rosters(db, org).find({}, limit=1000)
    }


async def raise_alert(
    db: AsyncDatabase[Document],
    publisher: EventPublisher,
    *,
    org: str,
    member_id: str,
    severity: Severity,
    now: datetime,
) -> model.Case:
    protocol_doc = await store.protocols(db, org).find_one({})
    protocol = store.doc_to_protocol(protocol_doc) if protocol_doc else None
    case, events = model.raise_case(
        org=org,
        member_id=member_id,
        severity=severity,
        protocol=protocol,
        rosters=await load_rosters(db, org),
        now=now,
    )
    # One write holds the case and its events: they cannot diverge.
    await store.cases(db, org).insert_one(with_outbox(store.case_to_doc(case), events))
    await publish_now_or_later(db.cases, case.id, publisher)
    return case


async def get_case(db: AsyncDatabase[Document], org: str, case_id: str) -> model.Case | None:
    doc = await store.cases(db, org).find_one({"_id": case_id})
    return store.doc_to_case(doc) if doc else None


async def save_roster(db: AsyncDatabase[Document], org: str, roster: model.Roster) -> None:
    await store.rosters(db, org).find_one_and_update(
        {"roster_id": roster.id}, {"$set": store.roster_to_doc(roster)}, upsert=True
    )


async def save_protocol(db: AsyncDatabase[Document], org: str, protocol: model.Protocol) -> None:
    """Refuses (model.NobodyToReach) a protocol whose levels could reach nobody."""
    model.check_protocol(protocol, await load_rosters(db, org))
    await store.protocols(db, org).find_one_and_update(
        {}, {"$set": store.protocol_to_doc(protocol)}, upsert=True
    )
