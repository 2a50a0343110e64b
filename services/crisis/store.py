"""Crisis documents in MongoDB, and their mapping to the domain model."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.crisis.model import Case, Level, Override, Protocol, Roster
from shared import scheduler
from shared.outbox import OUTBOX_FIELDS
from shared.revisions import REV
from shared.storage import OrgCollection

Document = dict[str, Any]
# Fields of a case document that are not part of the domain model.
OPEN_KEY = "open_key"  # the de-duplication key while the case is open, its own id once closed
NOTES = "notes"  # encrypted; read through service.read_notes only
STORAGE_FIELDS = OUTBOX_FIELDS | {OPEN_KEY, REV, NOTES, "org"}


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    # One open case per person: a second alert for the same key cannot insert, it merges.
    await db.cases.create_index([("org", ASCENDING), (OPEN_KEY, ASCENDING)], unique=True)
    await db.deadlines.create_index([("at", ASCENDING)])
    await db.cases.create_index([("org", ASCENDING), ("state", ASCENDING)])
    await db.rosters.create_index([("org", ASCENDING), ("roster_id", ASCENDING)], unique=True)
    await db.protocols.create_index([("org", ASCENDING)], unique=True)
    await db.staff.create_index([("org", ASCENDING), ("responder_id", ASCENDING)], unique=True)
    await db.partners.create_index([("org", ASCENDING), ("partner_id", ASCENDING)], unique=True)
    await db.audit.create_index([("org", ASCENDING), ("case_id", ASCENDING)])
    # What the retention round (retention.py) asks for; the audit trail holds years of reads.
    await db.audit.create_index([("at", ASCENDING)])
    await db.webhook_attempts.create_index([("at", ASCENDING)])
    await db.regional_team_changes.create_index([("region", ASCENDING), ("at", ASCENDING)])
    await db.webhook_deliveries.create_index([("state", ASCENDING), ("next_at", ASCENDING)])
    await db.webhook_attempts.create_index([("org", ASCENDING), ("case_id", ASCENDING)])


def cases(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.cases, org)


def rosters(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.rosters, org)


def protocols(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.protocols, org)


def staff(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.staff, org)


def partners(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    """The organization's clinical partners, named in a warm handoff."""
    return OrgCollection(db.partners, org)


def case_aliases(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    """An alert accepted in a surge that joined the person's open case: its id -> that case's id."""
    return OrgCollection(db.case_aliases, org)


def audit(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.audit, org)


def webhooks(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.webhooks, org)


def webhook_deliveries(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.webhook_deliveries, org)


def webhook_attempts(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.webhook_attempts, org)


def regional_teams(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    """Network-level, keyed by region: the one crisis collection not owned by an organization."""
    return db.regional_teams


def regional_team_changes(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    """Who named which team when: the audit trail of the regional teams."""
    return db.regional_team_changes


async def regional_responders(db: AsyncDatabase[Document], orgs: list[str], ids: list[str]) -> dict[str, str]:
    """Which of `ids` are regional responders on the crisis staff of one of `orgs`, and of which
    (the first by id, should two organizations vouch for the same person: one answer every time)."""
    query = {
        "org": {"$in": orgs},
        "responder_id": {"$in": ids},
        "roles": "regional_responder",
        "active": {"$ne": False},
    }
    found: dict[str, str] = {}
    async for d in db.staff.find(query, sort=[("org", 1)]):
        found.setdefault(d["responder_id"], d["org"])
    return found


async def schedule(db: AsyncDatabase[Document], org: str, case_id: str, at: datetime) -> None:
    """Record that a case has a deadline at `at`, before the case write that sets it.

    The case document stays the truth; an entry only makes the timer loop (shared.scheduler) look
    at the case then. Written first, an entry exists for every deadline a case can have; one whose
    case write never happened, or whose case has moved on, finds nothing due and is dropped.
    """
    await scheduler.schedule(db.deadlines, f"{case_id}@{at.isoformat()}", at, org=org, case_id=case_id)


def case_to_doc(case: Case) -> Document:
    doc = asdict(case)
    doc["_id"] = doc.pop("id")
    doc["protocol"] = protocol_to_doc(case.protocol)
    doc[OPEN_KEY] = case.dedup_key if case.is_open else case.id
    return doc


def doc_to_case(doc: Document) -> Case:
    fields = {k: v for k, v in doc.items() if k not in STORAGE_FIELDS}
    fields["protocol"] = doc_to_protocol(doc["protocol"])
    return Case(id=doc["_id"], org=doc["org"], **fields)


def roster_to_doc(roster: Roster) -> Document:
    return {
        "roster_id": roster.id,
        "time_zone": roster.time_zone,
        "responder_ids": list(roster.responder_ids),
        "rotation_start": roster.rotation_start.isoformat(),  # naive local wall time, kept as text
        "overrides": [asdict(o) for o in roster.overrides],
    }


def doc_to_roster(doc: Document) -> Roster:
    return Roster(
        id=doc["roster_id"],
        time_zone=doc["time_zone"],
        responder_ids=tuple(doc["responder_ids"]),
        rotation_start=datetime.fromisoformat(doc["rotation_start"]),
        overrides=tuple(Override(**o) for o in doc.get("overrides", [])),
    )


def protocol_to_doc(protocol: Protocol) -> Document:
    doc = asdict(protocol)
    doc["start_levels"] = dict(protocol.start_levels)
    return doc


def doc_to_protocol(doc: Document) -> Protocol:
    fields = {k: v for k, v in doc.items() if k not in OUTBOX_FIELDS and k != "org"}
    fields["levels"] = tuple(
        Level(**{**lv, "responder_ids": tuple(lv["responder_ids"])}) for lv in doc["levels"]
    )
    return Protocol(**fields)
