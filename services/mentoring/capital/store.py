"""Recovery capital documents.

- `barc10_responses`: one per member, `_id` = `<org>/<member ref>` (an opaque hash: ids are logged),
  their responses oldest first (`{answers, total, taken_at, counted}`), written by revision
  (shared.revisions) so two responses sent at once both land and only one can start a new period.
  An organization's report reads every document of the organization: it is asked rarely, by few.
- `barc10_wording`: one per organization, `_id` = the organization: the item texts it supplied, per
  language (a list, so a language code is never a key).
"""

import datetime as dt
import hashlib
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.mentoring.capital.model import Response, Wording
from services.mentoring.store import Db
from shared.revisions import REV

Document = dict[str, Any]


async def ensure_indexes(db: Db) -> None:
    await db.barc10_responses.create_index("org")


def responses(db: Db) -> AsyncCollection[Document]:
    return db.barc10_responses


def wording(db: Db) -> AsyncCollection[Document]:
    return db.barc10_wording


def member_key(org: str, member_id: str) -> str:
    ref = hashlib.sha256(f"barc10:{org}/{member_id}".encode()).hexdigest()[:32]
    return f"{org}/{ref}"


def response_doc(r: Response) -> Document:
    # Milliseconds: what BSON keeps, so a response read back equals the one written.
    taken_at = r.taken_at.replace(microsecond=r.taken_at.microsecond // 1000 * 1000)
    return {"answers": list(r.answers), "total": r.total, "taken_at": taken_at, "counted": r.counted}


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def from_doc(d: Document) -> Response:
    return Response(tuple(d["answers"]), int(d["total"]), _utc(d["taken_at"]), bool(d["counted"]))


def history(doc: Document | None) -> list[Response]:
    return [from_doc(d) for d in (doc or {}).get("responses", [])]


async def member(db: Db, org: str, member_id: str) -> Document | None:
    return await responses(db).find_one({"_id": member_key(org, member_id), "org": org})


async def member_or_new(db: Db, org: str, member_id: str) -> Document:
    """The member's document, created empty (at revision 0) the first time."""
    key = member_key(org, member_id)
    try:
        await responses(db).insert_one(
            {"_id": key, "org": org, "member_id": member_id, REV: 0, "responses": []}
        )
    except DuplicateKeyError:
        pass
    doc = await responses(db).find_one({"_id": key})
    assert doc is not None  # inserted just now, or before
    return doc


async def histories(db: Db, org: str) -> list[list[Response]]:
    """Every member's history in the organization (for its aggregates only)."""
    return [history(doc) async for doc in responses(db).find({"org": org})]


def wording_doc(org: str, wordings: list[Wording], at: dt.datetime) -> Document:
    languages = [
        {"lang": w.lang, "items": list(w.items), "scale": None if w.scale is None else list(w.scale)}
        for w in wordings
    ]
    return {"_id": org, "org": org, "languages": languages, "updated_at": at}


async def save_wording(db: Db, org: str, wordings: list[Wording], at: dt.datetime) -> None:
    await wording(db).replace_one({"_id": org, "org": org}, wording_doc(org, wordings, at), upsert=True)


async def wordings(db: Db, org: str) -> list[Wording]:
    doc = await wording(db).find_one({"_id": org, "org": org})
    return [
        Wording(w["lang"], tuple(w["items"]), None if w.get("scale") is None else tuple(w["scale"]))
        for w in (doc or {}).get("languages", [])
    ]
