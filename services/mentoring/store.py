"""Mentoring documents.

- `mentors`, `_id` = `<org>:<mentor id>`: the profile and the slots the mentor holds (proposals and
  active matches). Capacity is checked and a slot taken in one revision of this one document
  (shared.revisions), with the match's event in its outbox: no two requests can take the last slot.
- `members`, `_id` = `<org>:<member id>`: the member's open request, the proposal made for it (at
  most one at a time) and their active match. Its revisions make "one open request, at most one
  match" hold, and make the member the lock for proposing: only the writer that put a proposal id
  on the member may claim a mentor's slot for it.
- `proposal_timers`: shared.scheduler entries, one per proposal, firing at its expiry.
Documents are read by `_id`, except the listings of one organization (mentors to rank, members
waiting), which an organization keeps in the hundreds. An `_id` names its organization first, and an
organization id has no `:` (contracts.subjects.ORG_TOKEN), so two organizations never share one.
"""

import contextlib
from dataclasses import asdict
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.mentoring.model import (
    Check,
    Explanation,
    Held,
    MentorProfile,
    Preference,
    PreferenceLine,
    Request,
    Slots,
)
from shared.revisions import REV
from shared.storage import OrgCollection

Document = dict[str, Any]
Db = AsyncDatabase[Document]

PROFILE_FIELDS = (
    "capacity", "languages", "gender", "age_min", "age_max", "pathways", "lived_experience",
    "region", "online", "in_person", "availability", "paused",
)  # fmt: skip


async def ensure_indexes(db: Db) -> None:
    await adopt_legacy_mentors(db)
    await db.mentors.create_index([("org", ASCENDING)])
    await db.members.create_index([("org", ASCENDING), ("status", ASCENDING)])
    await db.proposal_timers.create_index([("at", ASCENDING)])


LEGACY_INDEX = "org_1_mentor_id_1"


async def adopt_legacy_mentors(db: Db) -> int:
    """Mentors written by the first release (an ObjectId `_id` under a unique index on org and
    mentor id, `focus`, `accepting`, a bare `active_mentees` count) become mentors of this one; that
    release had no accepted matches, so its counts of proposals are dropped with it. Returns how many."""
    if LEGACY_INDEX in await db.mentors.index_information():
        with contextlib.suppress(OperationFailure):  # another replica starting at once dropped it first
            await db.mentors.drop_index(LEGACY_INDEX)
    adopted = 0
    for old in await db.mentors.find({"held": {"$exists": False}}).to_list():
        new = {
            "_id": key(old["org"], old["mentor_id"]),
            "org": old["org"],
            "mentor_id": old["mentor_id"],
            **profile_to_doc(
                MentorProfile(
                    mentor_id=old["mentor_id"],
                    org=old["org"],
                    capacity=min(max(int(old.get("capacity", 1)), 1), 10),
                    languages=frozenset(old.get("languages") or ["en"]),
                    lived_experience=frozenset(old.get("focus") or []),
                    paused=not old.get("accepting", True),
                )
            ),
            "held": [],
            REV: 0,
        }
        with contextlib.suppress(DuplicateKeyError):
            await db.mentors.insert_one(new)
        await db.mentors.delete_one({"_id": old["_id"]})
        adopted += 1
    return adopted


def key(org: str, person_id: str) -> str:
    return f"{org}:{person_id}"


def mentors(db: Db, org: str) -> OrgCollection:
    return OrgCollection(db.mentors, org)


def members(db: Db, org: str) -> OrgCollection:
    return OrgCollection(db.members, org)


def timers(db: Db) -> AsyncCollection[Document]:
    return db.proposal_timers


def profile_to_doc(m: MentorProfile) -> Document:
    doc = {f: getattr(m, f) for f in PROFILE_FIELDS}
    for f in ("languages", "pathways", "lived_experience", "availability"):
        doc[f] = sorted(doc[f])
    return doc


def doc_to_slots(d: Document) -> Slots:
    held = tuple(Held(**h) for h in d.get("held", []))
    fields: dict[str, Any] = {f: frozenset(d[f]) if isinstance(d[f], list) else d[f] for f in PROFILE_FIELDS}
    profile = MentorProfile(mentor_id=d["mentor_id"], org=d["org"], load=len(held), **fields)
    return Slots(profile, held)


def held_to_doc(held: tuple[Held, ...]) -> list[Document]:
    return [asdict(h) for h in held]


def request_to_doc(r: Request) -> Document:
    return {
        "id": r.id,
        "languages": sorted(r.languages),
        "mentor_genders": sorted(r.mentor_genders),
        "pathways": sorted(r.pathways),
        "mode": r.mode,
        "region": r.region,
        "age": r.age,
        "preferences": [asdict(p) for p in r.preferences],
        "requested_at": r.requested_at,
    }


def doc_to_request(member: Document) -> Request:
    r = member["request"]
    return Request(
        id=r["id"],
        org=member["org"],
        member_id=member["member_id"],
        languages=frozenset(r["languages"]),
        mentor_genders=frozenset(r["mentor_genders"]),
        pathways=frozenset(r["pathways"]),
        mode=r["mode"],
        region=r["region"],
        age=r["age"],
        preferences=tuple(Preference(**p) for p in r["preferences"]),
        excluded=frozenset(member.get("excluded", [])),
        requested_at=r["requested_at"],
    )


def explanation_to_doc(e: Explanation) -> Document:
    return asdict(e)


def doc_to_explanation(d: Document) -> Explanation:
    return Explanation(
        mentor_id=d["mentor_id"],
        feasible=d["feasible"],
        checks=tuple(Check(**c) for c in d["checks"]),
        preferences=tuple(PreferenceLine(**p) for p in d["preferences"]),
        load_points=d["load_points"],
        score=d["score"],
    )
