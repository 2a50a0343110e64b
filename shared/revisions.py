"""Compare-and-set by revision that holds on FerretDB 1.x as well as on MongoDB.

A document carries `rev`; a writer that read revision N may write N+1, and exactly one writer wins
each revision. `update_one({"rev": N})` alone is not enough here: FerretDB 1.24 (SQLite) evaluates
an update's filter and applies its write in separate steps, so two concurrent writers both match
(measured: 192 of 200 racing pairs both "won"; two crisis replicas escalated one step twice).

What both servers do atomically is a unique insert. So the winner of revision N is whoever first
inserts the claim `<id>:<N>` into `<collection>_claims`, and the claim holds the write itself: if
the winner dies before applying it, the next writer to meet the claim applies it for them (the
write sets absolute values, so applying it twice changes nothing).

Claims are deleted only by the retention job (shared.retention), and only a claim that is both
applied (the document is past its revision, or gone) and old: a deleted claim can be won again by
a writer holding a stale read, whose write then lands nowhere while it is told it won. So the age
(`claims_retention_hours`) is far beyond any read-modify-write. A claim whose winner died stays
while its document does: the next writer of the document applies it. And a document deleted and
created again under the same id would meet its old claims as if they were its own: whoever deletes
documents that can come back deletes their claims with them (services/crisis/retention.py).
"""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
REV = "rev"
CLAIMS_SUFFIX = "_claims"
# Attempts at one read-modify-write before giving up: each lost attempt means another writer won a
# revision, so twenty in a row is a pile-up worth telling the caller about rather than waiting out.
RACES = 20


class Busy(Exception):
    """Too many writers at once on one document; the caller may try again (HTTP: a 503)."""


def claims_of(collection: AsyncCollection[Document]) -> AsyncCollection[Document]:
    return collection.database[f"{collection.name}{CLAIMS_SUFFIX}"]


async def write_revision(
    collection: AsyncCollection[Document],
    doc_id: str,
    rev: int,
    set_fields: Mapping[str, Any],
    push: Mapping[str, list[Any]] | None = None,
) -> bool:
    """Write revision `rev + 1` of a document read at `rev`; False if another writer got there first.

    On False, read the document again and decide afresh: the other write has been applied.
    """
    claim = {
        "_id": f"{doc_id}:{rev}",
        "at": datetime.now(UTC),
        "set": dict(set_fields),
        "push": dict(push or {}),
    }
    try:
        await claims_of(collection).insert_one(claim)
    except DuplicateKeyError:
        winner = await claims_of(collection).find_one({"_id": claim["_id"]})
        if winner:
            await _apply(collection, doc_id, rev, winner)
        return False
    await _apply(collection, doc_id, rev, claim)
    return True


async def apply_pending(collection: AsyncCollection[Document], doc_id: Any) -> bool:
    """Apply the claimed next revision of a document, if its winner died before applying it; returns
    whether there was one. (Otherwise the document's next writer applies it, which may be hours away.)
    """
    doc = await collection.find_one({"_id": doc_id}, {REV: 1})
    rev = int(doc.get(REV, 0)) if doc else None
    claim = await claims_of(collection).find_one({"_id": f"{doc_id}:{rev}"}) if rev is not None else None
    if claim is None:
        return False
    await _apply(collection, doc_id, rev or 0, claim)
    return True


async def _apply(collection: AsyncCollection[Document], doc_id: str, rev: int, claim: Document) -> None:
    update: Document = {"$set": {**claim["set"], REV: rev + 1}}
    if claim["push"]:
        update["$push"] = {field: {"$each": values} for field, values in claim["push"].items()}
    await collection.update_one({"_id": doc_id, REV: rev}, update)


async def change(
    collection: AsyncCollection[Document],
    doc_id: str,
    decide: Callable[[Document], Mapping[str, Any] | None],
    *,
    push: Callable[[Document], Mapping[str, list[Any]]] | None = None,
    races: int = RACES,
) -> Document | None:
    """Read the document, set the fields `decide` returns for it (and append what `push` returns) as
    its next revision, deciding afresh on the document as it is now each time another writer got
    there first; returns the document as written. None if there is no such document or `decide`
    returned None (nothing to do). Busy after `races` lost revisions.

    `decide` and `push` may be called several times: they only compute, from the document given.
    """
    for _ in range(races):
        doc = await collection.find_one({"_id": doc_id})
        if doc is None:
            return None
        fields = decide(doc)
        if fields is None:
            return None
        pushed = push(doc) if push else {}
        rev = int(doc.get(REV, 0))
        if await write_revision(collection, doc_id, rev, fields, pushed):
            written = {**doc, **fields, REV: rev + 1}
            for field, values in pushed.items():
                written[field] = [*doc.get(field, []), *values]
            return written
    raise Busy(f"{collection.name} {doc_id} changed under us {races} times")
