"""Notification documents, and how the model's objects are kept.

- `notifications`: the in-app inbox, one per (cause event, message, recipient): its id says so, so a
  redelivered cause finds the one it made instead of making another.
- `people`: contacts and preferences, one per person and organization (`_id` is `<org>/<user id>`).
- `deliveries`: one per (notification, channel) beyond the inbox: the idempotency key, claimed by
  revision (shared.revisions) before each attempt, so a redelivery or a second replica never sends
  it twice. `attempts`: one per attempt with its outcome, and the event that reports it.
- `digests`: a person's low-priority messages waiting for their daily digest.
- `webhooks`: an organization's endpoint and signing secret, one per organization (`_id` is the org).
- `schedule`: the durable scheduler's entries (shared.scheduler): deferred and retried deliveries,
  digests.
- `deactivations`: when a person was last taken off an organization's crisis staff (`_id` is
  `<org>/<user id>`): crisis messages caused until then are not sent to them. One per person ever
  taken off, so it needs no retention.
- `first_deliveries`: one per crisis case an escalation of which was delivered (`_id` is
  `<org>/<case id>`): inserted by the first delivery, so replicas and redeliveries time it once.
"""

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, time
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.notifications.model import Digest, Notification, Person, QuietHours
from shared.outbox import OUTBOX_FIELDS

Document = dict[str, Any]
Db = AsyncDatabase[Document]


async def ensure_indexes(db: Db) -> None:
    # One inbox index serves both reads (their organization's, and a regional responder's across
    # organizations): a person's inbox is small once it is narrowed to them, and on the local store
    # every index is a cost on each of a fan-out's inserts.
    await db.notifications.create_index([("recipient_id", ASCENDING), ("created_at", DESCENDING)])
    await db.people.create_index([("person_id", ASCENDING)])
    # From before inbox ids named their message: it would count a second message to the same person
    # about the same event as a copy of the first.
    with contextlib.suppress(OperationFailure):
        await db.notifications.drop_index("org_1_cause_event_id_1_recipient_id_1")
    await db.attempts.create_index([("org", ASCENDING), ("notification_id", ASCENDING)])


def inbox_filter(org: str, recipient_id: str, team_regions: frozenset[str]) -> Document:
    """The recipient's notifications in their organization, and those addressed to them as a member
    of the crisis team of one of `team_regions`, whatever organization's case caused them.

    The one read across organizations: the recipient and the region are both required, so it
    cannot reach a notification addressed to somebody else or to another region's team.
    """
    if not team_regions:
        return {"org": org, "recipient_id": recipient_id}
    return {
        "recipient_id": recipient_id,
        "$or": [{"org": org}, {"team_region": {"$in": sorted(team_regions)}}],
    }


def notification_to_doc(n: Notification) -> Document:
    # Field by field rather than dataclasses.asdict, whose deep copy was a tenth of a fan-out's CPU.
    doc = {f.name: getattr(n, f.name) for f in fields(n)}
    doc["_id"] = doc.pop("id")
    return doc


def notification_from_doc(doc: Document) -> Notification:
    return Notification(id=doc["_id"], **{k: v for k, v in doc.items() if k not in OUTBOX_FIELDS})


def person_key(org: str, person_id: str) -> str:
    """A person's settings are their organization's record of them: another organization's admin
    writes a record of its own, never this one."""
    return f"{org}/{person_id}"


def person_to_doc(p: Person) -> Document:
    """The settable fields (the key, `org` and `person_id` are set once, on insert)."""
    return {
        "email": p.email,
        "phone": p.phone,
        "language": p.language,
        "timezone": p.timezone,
        "channels": {category: list(channels) for category, channels in p.channels.items()},
        "quiet_hours": (
            {"start": p.quiet_hours.start.isoformat("minutes"), "end": p.quiet_hours.end.isoformat("minutes")}
            if p.quiet_hours
            else None
        ),
        "digest": {"categories": sorted(p.digest.categories), "hour": p.digest.hour} if p.digest else None,
    }


def person_from_doc(doc: Document) -> Person:
    quiet, digest = doc.get("quiet_hours"), doc.get("digest")
    return Person(
        id=doc["person_id"],
        org=doc["org"],
        email=doc.get("email"),
        phone=doc.get("phone"),
        language=doc.get("language", "en"),
        timezone=doc.get("timezone", "UTC"),
        channels={category: tuple(chs) for category, chs in (doc.get("channels") or {}).items()},
        quiet_hours=QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
        if quiet
        else None,
        digest=Digest(frozenset(digest["categories"]), digest["hour"]) if digest else None,
    )


async def people(
    db: Db, org: str, ids: list[str], team: Sequence[str] = (), team_orgs: Mapping[str, str] | None = None
) -> dict[str, Person]:
    """The contacts an event's messages go to: each recipient's record in the event's organization,
    in one read by key.

    A member of a regional team (`team`) may belong to another organization, and is reached through
    the record their own organization keeps (what they set there, and what its admin set).

    When crisis says which organization that is (`team_orgs`, for members not on the event
    organization's staff), that organization's record is read, and only it: the event
    organization's record of them is what its admin wrote about an outsider, even one they once
    wrote to themselves (the admin may have added to it since). No record there (they may be on the
    regional staff of several, and keep their contacts in another): a record they wrote themselves
    elsewhere, never the event organization's; none of those either: in-app only.

    Otherwise (an escalation from before crisis said so) their own organization is known from the
    record they wrote themselves (`confirmed`: written under their token's organization). So the
    event's organization's record serves a member who confirmed it, or who confirmed none anywhere
    (nothing says they are not its own); for one who confirmed a record elsewhere, the event's
    organization's is only what its admin wrote about an outsider, and theirs is used instead.
    """
    named = team_orgs or {}
    placed = {i: named.get(i, org) for i in ids}
    docs = await db.people.find({"_id": {"$in": [person_key(o, i) for i, o in placed.items()]}}).to_list()
    found = {d["person_id"]: d for d in docs}
    unplaced = [i for i in team if i not in named and not found.get(i, {}).get("confirmed")]
    unrecorded = [i for i in ids if i in named and i not in found]
    if elsewhere := unplaced + unrecorded:
        # The event organization's record is never theirs here: an unplaced member's is unconfirmed.
        query = {"person_id": {"$in": elsewhere}, "confirmed": True, "org": {"$ne": org}}
        own: dict[str, Document] = {}
        for doc in await db.people.find(query, sort=[("_id", 1)]).to_list():
            own.setdefault(doc["person_id"], doc)
        found |= own
    return {person_id: person_from_doc(doc) for person_id, doc in found.items()}


async def person(db: Db, org: str, person_id: str) -> Person | None:
    doc = await db.people.find_one({"_id": person_key(org, person_id)})
    return person_from_doc(doc) if doc else None


async def save_person(db: Db, person: Person, names: Iterable[str], *, by: str, confirmed: bool) -> None:
    """Write only the settings `names` (two requests changing different settings both land);
    `confirmed` when the person wrote them themselves: it marks the organization as theirs, which
    a regional team's message from another organization relies on (`people`)."""
    doc = person_to_doc(person)
    changed = {name: doc[name] for name in names}
    update: Document = {
        "$set": {
            **changed,
            "updated_by": by,
            "updated_at": datetime.now(UTC),
            **({"confirmed": True} if confirmed else {}),
        },
        "$setOnInsert": {"org": person.org, "person_id": person.id},
    }
    await db.people.update_one({"_id": person_key(person.org, person.id)}, update, upsert=True)


async def has_webhook(db: Db, org: str) -> bool:
    """Whether the organization has an endpoint for its notifications (`webhooks`, keyed by org)."""
    return await db.webhooks.find_one({"_id": org}, {"_id": 1}) is not None


async def record_deactivation(db: Db, org: str, person_id: str, at: datetime) -> None:
    """Keep the latest time: a redelivered older deactivation must not shorten what a later one stops."""
    await db.deactivations.update_one(
        {"_id": person_key(org, person_id)},
        {"$max": {"at": at}, "$setOnInsert": {"org": org, "person_id": person_id}},
        upsert=True,
    )


async def deactivated_at(db: Db, org: str, ids: Sequence[str]) -> dict[str, datetime]:
    """When each of `ids` was last taken off the organization's crisis staff, for those who were."""
    docs = await db.deactivations.find({"_id": {"$in": [person_key(org, i) for i in ids]}}).to_list()
    return {d["person_id"]: d["at"] for d in docs}


async def held_crisis_deliveries(db: Db, org: str, person_id: str) -> list[Document]:
    """A person's crisis deliveries of or through the organization that wait for their time
    (deferred, or a retry after a failed attempt), and those already cancelled, whose status a crash
    may have left unlogged.

    Unindexed on purpose: asked once per deactivation, a rare act of a coordinator, while an index
    would cost every delivery's insert on the local store.
    """
    query = {
        # Also another organization's deliveries that reach them through this one's record of them
        # (a regional team member, `contact_org`): taken off its staff, they are not its to send.
        "$or": [{"org": org}, {"contact_org": org}],
        "recipient_id": person_id,
        "category": "crisis",
        "state": {"$in": ["pending", "cancelled"]},
    }
    return await db.deliveries.find(query).to_list()


async def first_delivery(db: Db, org: str, case_id: str, at: datetime) -> bool:
    """Whether this is the first delivery of an escalation of the case (the unique `_id` decides)."""
    try:
        await db.first_deliveries.insert_one({"_id": f"{org}/{case_id}", "org": org, "at": at})
    except DuplicateKeyError:
        return False
    return True
