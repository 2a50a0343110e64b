"""Attendance documents. Every one belongs to the member's organization (`org`), whichever organization
lists the meeting (`meeting_org`): attendance is personal data of the member's organization.

- `attendance`: one per member and occurrence, `_id` = `<member org>/<member ref>/<meeting id>/<date>`,
  inserted once (a unique insert is the one-check-in rule), with its `AttendanceRecorded` in its outbox.
- `attendance_members`: one per member, `_id` = `<org>/<member ref>`: their history (a copy of each record),
  so reading it is one `_id` lookup on the local store, which scans for any other filter; the lapse
  already announced, its `MemberDisengaged` in its outbox, and the id of the pending check. Written by
  revision (shared.revisions): FerretDB applies an update's filter and write in separate steps.
- `attendance_checks`: the disengagement checks of the shared scheduler, `{_id, at, org, member_id}`,
  `_id` = `<org>/<member ref>@<when>`.
- `attendance_failures`: a member's wrong codes at an occurrence, one slot each (model.MAX_FAILURES),
  `_id` = `<the record's _id a right code inserts>#<n>`, `{at}`; a right code deletes them, and a
  scheduled entry (in `attendance_checks`, with `failures` = that record id) once their window passed.

A member ref (model.member_ref) is an opaque hash of the organization and the member id: ids are
logged (the scheduler's entries, the outbox's intents), the member id never is.

An occurrence's attendance (a facilitator's list) is read with a filter on `attendance`: it is read
rarely, by few, and production MongoDB answers it from the index below.
"""

import datetime as dt
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.meetings.attendance.model import MAX_FAILURES, Attended, failure_counts, member_ref
from shared.revisions import REV
from shared.storage import OrgCollection

Document = dict[str, Any]
Db = AsyncDatabase[Document]


async def ensure_indexes(db: Db) -> None:
    await db.attendance.create_index(
        [("meeting_id", ASCENDING), ("occurrence", ASCENDING), ("org", ASCENDING)]
    )
    await db.attendance_checks.create_index([("at", ASCENDING)])


def records(db: Db) -> AsyncCollection[Document]:
    return db.attendance


def members(db: Db) -> AsyncCollection[Document]:
    return db.attendance_members


def checks(db: Db) -> AsyncCollection[Document]:
    return db.attendance_checks


def member_key(org: str, member_id: str) -> str:
    return f"{org}/{member_ref(org, member_id)}"


def entry_doc(a: Attended) -> Document:
    return {
        "meeting_id": a.meeting_id,
        "meeting_org": a.meeting_org,
        "occurrence": a.occurrence.isoformat(),
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "name": a.name,
        "timezone": a.timezone,
        "where": a.where,
        "online": a.online,
        "attendance_option": a.attendance_option,
        "method": a.method,
        # Milliseconds: what BSON keeps, so a copy rebuilt from the stored record equals the first.
        "recorded_at": a.recorded_at.replace(microsecond=a.recorded_at.microsecond // 1000 * 1000),
    }


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def from_entry(d: Document) -> Attended:
    return Attended(
        meeting_id=d["meeting_id"],
        meeting_org=d["meeting_org"],
        occurrence=dt.date.fromisoformat(d["occurrence"]),
        starts_at=_utc(d["starts_at"]),
        ends_at=_utc(d["ends_at"]),
        name=d["name"],
        timezone=d["timezone"],
        where=d.get("where"),
        online=bool(d.get("online")),
        attendance_option=d["attendance_option"],
        method=d["method"],
        recorded_at=_utc(d["recorded_at"]),
    )


def record_doc(key: str, member_org: str, member_id: str, a: Attended) -> Document:
    return {"_id": key, "org": member_org, "member_id": member_id, **entry_doc(a)}


async def record(db: Db, key: str) -> Document | None:
    return await records(db).find_one({"_id": key})


async def occurrence_records(db: Db, org: str, meeting_id: str, occurrence: dt.date) -> list[Document]:
    """The organization's own members' records of an occurrence."""
    query = {"meeting_id": meeting_id, "occurrence": occurrence.isoformat()}
    return await OrgCollection(records(db), org).find(query, sort=[("recorded_at", ASCENDING)], limit=0)


async def others_count(db: Db, org: str, meeting_id: str, occurrence: dt.date) -> int:
    """How many members of other organizations attended: a number, never who."""
    query = {"meeting_id": meeting_id, "occurrence": occurrence.isoformat(), "org": {"$ne": org}}
    return await records(db).count_documents(query)


async def member(db: Db, org: str, member_id: str) -> Document | None:
    return await members(db).find_one({"_id": member_key(org, member_id), "org": org})


async def member_or_new(db: Db, org: str, member_id: str) -> Document:
    """The member's document, created empty (at revision 0) the first time."""
    key = member_key(org, member_id)
    try:
        await members(db).insert_one({"_id": key, "org": org, "member_id": member_id, REV: 0, "attended": []})
    except DuplicateKeyError:
        pass
    doc = await members(db).find_one({"_id": key})
    assert doc is not None  # inserted just now, or before
    return doc


def history(doc: Document | None) -> list[Attended]:
    return [from_entry(d) for d in (doc or {}).get("attended", [])]


def failures(db: Db) -> AsyncCollection[Document]:
    return db.attendance_failures


def slot_ids(key: str) -> list[str]:
    return [f"{key}#{n}" for n in range(1, MAX_FAILURES + 1)]


async def claim_attempt(db: Db, key: str, now: dt.datetime) -> str | list[dt.datetime]:
    """A free attempt slot of the member at the occurrence (`key`: its record's id), or, when every
    slot holds a recent failure, when those failures were.

    A unique insert claims a slot, so attempts made at once each get their own (FerretDB does not
    apply an `$inc` atomically). A slot whose failure is old is taken back by deleting exactly that
    failure, then inserting: of two attempts doing so, one gets it and the other tries the next.
    """
    held = []
    for slot in slot_ids(key):
        for _ in range(2):
            try:
                await failures(db).insert_one({"_id": slot, "at": now})
                return slot
            except DuplicateKeyError:
                doc = await failures(db).find_one({"_id": slot})
            if doc is None:
                continue  # freed a moment ago: try it again
            at = _utc(doc["at"])
            if failure_counts(at, now):
                held.append(at)
                break
            await failures(db).delete_one({"_id": slot, "at": doc["at"]})
    return held


async def release_attempt(db: Db, slot: str) -> None:
    await failures(db).delete_one({"_id": slot})


async def forget_failures(db: Db, key: str, now: dt.datetime | None = None) -> None:
    """Delete the member's failures at the occurrence (those whose window has passed, given `now`)."""
    for slot in slot_ids(key):
        if now is None:
            await failures(db).delete_one({"_id": slot})
            continue
        doc = await failures(db).find_one({"_id": slot})
        if doc is not None and not failure_counts(_utc(doc["at"]), now):
            await failures(db).delete_one({"_id": slot, "at": doc["at"]})


def check_id(org: str, member_id: str, at: dt.datetime) -> str:
    return f"{member_key(org, member_id)}@{at.astimezone(dt.UTC).isoformat()}"
