"""Span and rollup documents.

A span is kept lean: the fields a search filters on, and the rest as one JSON text (`d`). The local
store's cost grows with the number of fields it reads and writes, and 5,000 spans a second must fit.
Rollups are series (rollups.py), one document per period, scope and kind, merged under a revision
number so two replicas flushing the same period both count.
"""

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.insights import rollups
from services.insights.model import Fact, SpanRecord, TraceSearch
from shared.retention import delete_old
from shared.telemetry import CASE_ID

Document = dict[str, Any]
# Reads of rollup documents run side by side, this many at a time.
READ_CONCURRENCY = 8
MERGE_ATTEMPTS = 20


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.spans.create_index([("trace", ASCENDING)])
    await db.spans.create_index([("org", ASCENDING), ("at", DESCENDING)])
    await db.spans.create_index([("case", ASCENDING)], sparse=True)
    await db.rollups.create_index([("res", ASCENDING), ("at", ASCENDING)])


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def to_doc(s: SpanRecord) -> Document:
    case = s.attributes.get(CASE_ID)
    detail = {
        "parent": s.parent_span_id,
        "kind": s.kind,
        "start": s.start_ns,
        "end": s.end_ns,
        "status": s.status_code,
        "attributes": s.attributes,
        "links": s.links,
        "facts": [[f.name, f.time_ns, f.attributes] for f in s.facts],
    }
    return {
        "_id": s.trace_id + s.span_id,
        "trace": s.trace_id,
        "org": s.org,
        "service": s.service,
        "name": s.name,
        "at": _at(s.start_ns),
        "ms": s.duration_ms,
        "err": s.error,
        "case": case if isinstance(case, str) else None,
        "linked": sorted({t for t, _ in s.links}),
        "d": json.dumps(detail, separators=(",", ":")),
    }


def from_doc(d: Document) -> SpanRecord:
    detail = json.loads(d["d"])
    return SpanRecord(
        trace_id=d["trace"],
        span_id=d["_id"][32:],
        parent_span_id=detail["parent"],
        name=d["name"],
        service=d["service"],
        kind=detail["kind"],
        start_ns=detail["start"],
        end_ns=detail["end"],
        status_code=detail["status"],
        attributes=detail["attributes"],
        links=tuple((t, s) for t, s in detail["links"]),
        facts=tuple(Fact(name, at, attributes) for name, at, attributes in detail["facts"]),
    )


async def save_spans(db: AsyncDatabase[Document], spans: list[SpanRecord]) -> list[SpanRecord]:
    """Insert; returns the spans that were new. An exporter retries a batch it thinks failed, and a
    span held already must not count twice."""
    if not spans:
        return []
    try:
        await db.spans.insert_many([to_doc(s) for s in spans], ordered=False)
        return spans
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        held = {e["index"] for e in errors}
        return [s for i, s in enumerate(spans) if i not in held]


async def trace_spans(db: AsyncDatabase[Document], trace_id: str, orgs: frozenset[str]) -> list[SpanRecord]:
    """The spans of one trace attributed to `orgs` (model.orgs_visible_to), in start order."""
    query = {"trace": trace_id, "org": {"$in": sorted(orgs)}}
    spans = [from_doc(d) async for d in db.spans.find(query, limit=5000)]
    return sorted(spans, key=lambda s: s.start_ns)


async def search_spans(
    db: AsyncDatabase[Document], search: TraceSearch, orgs: frozenset[str], limit: int
) -> list[SpanRecord]:
    """The spans attributed to `orgs` that match, newest first."""
    query: Document = {"org": {"$in": sorted(orgs)}, "at": {"$gte": search.start, "$lt": search.end}}
    if search.service:
        query["service"] = search.service
    if search.operation:
        query["name"] = search.operation
    if search.status is not None:
        query["err"] = search.status == "error"
    if search.min_ms is not None or search.max_ms is not None:
        query["ms"] = {k: v for k, v in (("$gte", search.min_ms), ("$lte", search.max_ms)) if v is not None}
    if search.case_id:
        query["case"] = search.case_id
    if search.request_id:
        query["$or"] = [{"trace": search.request_id}, {"linked": search.request_id}]
    cursor = db.spans.find(query, sort=[("at", DESCENDING)], limit=limit)
    return [from_doc(d) async for d in cursor]


async def merge_rollup(db: AsyncDatabase[Document], doc_id: str, series: rollups.Series) -> None:
    """Add the series to its stored document, or raise without having added it."""
    res, period, _, _ = doc_id.split("|")
    for _ in range(MERGE_ATTEMPTS):
        current = await db.rollups.find_one({"_id": doc_id})
        if current is None:
            try:
                at = datetime.fromtimestamp(int(period), UTC)
                await db.rollups.insert_one(
                    {"_id": doc_id, "res": res, "at": at, "rev": 1, "c": rollups.dumps(series)}
                )
                return
            except DuplicateKeyError:
                continue  # another replica wrote it first: merge into theirs
        merged = rollups.loads(current["c"])
        rollups.merge_series(merged, series)
        done = await db.rollups.update_one(
            {"_id": doc_id, "rev": current["rev"]}, {"$set": {"c": rollups.dumps(merged)}, "$inc": {"rev": 1}}
        )
        if done.matched_count:
            return
    raise RuntimeError(f"rollup {doc_id} kept changing under {MERGE_ATTEMPTS} attempts")


async def read_rollups(db: AsyncDatabase[Document], doc_ids: Iterable[str]) -> dict[str, rollups.Series]:
    """By `_id` one at a time, side by side: the local store answers only `_id` equality from an index."""
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(doc_id: str) -> tuple[str, Document | None]:
        async with gate:
            return doc_id, await db.rollups.find_one({"_id": doc_id}, {"c": 1})

    found = await asyncio.gather(*(one(i) for i in set(doc_ids)))
    return {i: rollups.loads(d["c"]) for i, d in found if d is not None}


async def delete_old_spans(db: AsyncDatabase[Document], before: datetime) -> int:
    return await delete_old(db.spans, {"at": {"$lt": before}})


async def delete_old_rollups(db: AsyncDatabase[Document], res: str, before: datetime) -> int:
    return await delete_old(db.rollups, {"res": res, "at": {"$lt": before}})


def older_than(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
