"""Crisis documents in MongoDB, and their mapping to the domain model."""

from dataclasses import asdict
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.crisis.model import Case, Level, Protocol, Roster
from shared.outbox import OUTBOX_FIELDS
from shared.storage import OrgCollection

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.cases.create_index([("org", ASCENDING), ("member_id", ASCENDING), ("state", ASCENDING)])
    await db.rosters.create_index([("org", ASCENDING), ("roster_id", ASCENDING)], unique=True)
    await db.protocols.create_index([("org", ASCENDING)], unique=True)


def cases(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.cases, org)


def rosters(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.rosters, org)


def protocols(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.protocols, org)


def case_to_doc(case: Case) -> Document:
    doc = asdict(case)
    doc["_id"] = doc.pop("id")
    return doc


def doc_to_case(doc: Document) -> Case:
    fields = {k: v for k, v in doc.items() if k not in OUTBOX_FIELDS}
    return Case(id=doc["_id"], **fields)


def roster_to_doc(roster: Roster) -> Document:
    return {
        "roster_id": roster.id,
        "responder_ids": list(roster.responder_ids),
        "rotation_start": roster.rotation_start,
    }


def doc_to_roster(doc: Document) -> Roster:
    return Roster(
        id=doc["roster_id"], responder_ids=tuple(doc["responder_ids"]), rotation_start=doc["rotation_start"]
    )


def protocol_to_doc(protocol: Protocol) -> Document:
    return {
        "levels": [
            {
                "responder_ids": list(lv.responder_ids),
                "roster_id": lv.roster_id,
                "timeout_minutes": lv.timeout_minutes,
            }
            for lv in protocol.levels
        ]
    }


def doc_to_protocol(doc: Document) -> Protocol:
    return Protocol(
        levels=tuple(
            Level(
                responder_ids=tuple(lv["responder_ids"]),
                roster_id=lv.get("roster_id"),
                timeout_minutes=lv["timeout_minutes"],
            )
            for lv in doc["levels"]
        )
    )
