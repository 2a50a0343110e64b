"""Mentoring documents."""

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.mentoring.model import Match, Mentor
from shared.storage import OrgCollection

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.mentors.create_index([("org", ASCENDING), ("mentor_id", ASCENDING)], unique=True)
    await db.requests.create_index([("org", ASCENDING), ("member_id", ASCENDING)])


def mentors(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.mentors, org)


def requests(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.requests, org)


def mentor_to_doc(m: Mentor) -> Document:
    return {
        "mentor_id": m.mentor_id,
        "capacity": m.capacity,
        "languages": list(m.languages),
        "focus": list(m.focus),
        "accepting": m.accepting,
    }


def doc_to_mentor(d: Document) -> Mentor:
    return Mentor(
        mentor_id=d["mentor_id"],
        org=d["org"],
        capacity=d["capacity"],
        active_mentees=d.get("active_mentees", 0),
        languages=tuple(d["languages"]),
        focus=tuple(d["focus"]),
        accepting=d["accepting"],
    )


def match_fields(m: Match) -> Document:
    return {"match_id": m.id, "mentor_id": m.mentor_id, "score": m.score}
