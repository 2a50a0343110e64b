"""Span and rollup documents.

Spans are stored in chunks: the spans of one export that name the same organization, as one JSON
text (`d`) beside the fields a query selects chunks by. The local store's cost is per document and
per field, not per byte: a document per span held ingest to 2,800 spans/s on two cores, where the
issue asks 5,000. A chunk's id is made of its spans' ids, so an export sent again (an exporter that
missed the answer) is known and not counted twice.
Rollups are series (rollups.py), one document per period, scope and kind, merged under a revision
number so two replicas flushing the same period both count.
"""

import asyncio
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.insights import rollups
from services.insights.model import Fact, SpanRecord, TraceSearch, matches
from shared.retention import delete_old
from shared.telemetry import CASE_ID

Document = dict[str, Any]
# Reads of rollup documents run side by side, this many at a time.
READ_CONCURRENCY = 8
MERGE_ATTEMPTS = 20
CHUNK_SPANS = 256


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.spans.create_index([("traces", ASCENDING)])
    await db.spans.create_index([("org", ASCENDING), ("at", DESCENDING)])
    await db.spans.create_index([("cases", ASCENDING)], sparse=True)
    await db.spans.create_index([("until", ASCENDING)])
    await db.rollups.create_index([("res", ASCENDING), ("at", ASCENDING)])


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def span_json(s: SpanRecord) -> list[Any]:
    facts = [[f.name, f.time_ns, f.attributes] for f in s.facts]
    return [s.trace_id, s.span_id, s.parent_span_id, s.name, s.service, s.kind, s.start_ns, s.end_ns,
            s.status_code, s.attributes, s.links, facts]  # fmt: skip


def span_from_json(v: list[Any]) -> SpanRecord:
    trace_id, span_id, parent, name, service, kind, start, end, status, attributes, links, facts = v
    return SpanRecord(
        trace_id, span_id, parent, name, service, kind, start, end, status, attributes,
        tuple((t, sp) for t, sp in links), tuple(Fact(n, at, a) for n, at, a in facts),
    )  # fmt: skip


class PartlySaved(Exception):
    """The store refused some chunks of an export (not as duplicates); `saved` are the spans that landed."""

    def __init__(self, saved: list[SpanRecord]) -> None:
        super().__init__(f"{len(saved)} spans saved, the rest refused")
        self.saved = saved


def chunks(spans: list[SpanRecord]) -> list[tuple[Document, list[SpanRecord]]]:
    """The export's spans, chunks of at most CHUNK_SPANS per organization (those naming none together).

    Bounded so a chunk stays far below a document's 16 MB: a span's values are bounded too (model.py).
    """
    by_org: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        by_org.setdefault(span.org, []).append(span)
    found = []
    for org, of_org in by_org.items():
        for i in range(0, len(of_org), CHUNK_SPANS):
            held = of_org[i : i + CHUNK_SPANS]
            found.append(_chunk(org, held))
    return found


def _chunk(org: str | None, held: list[SpanRecord]) -> tuple[Document, list[SpanRecord]]:
    ids = sorted(s.trace_id + s.span_id for s in held)
    cases = {c for s in held if isinstance(c := s.attributes.get(CASE_ID), str)}
    doc = {
        "_id": hashlib.sha256("".join(ids).encode()).hexdigest()[:32],
        "org": org,
        "at": _at(min(s.start_ns for s in held)),
        "until": _at(max(s.end_ns for s in held)),
        "traces": sorted({s.trace_id for s in held}),
        "services": sorted({s.service for s in held}),
        "linked": sorted({t for s in held for t, _ in s.links}),
        "d": json.dumps([span_json(s) for s in held], separators=(",", ":")),
    }
    if cases:  # absent, not empty: the index on cases is sparse
        doc["cases"] = sorted(cases)
    return doc, held


async def save_spans(db: AsyncDatabase[Document], spans: list[SpanRecord]) -> list[SpanRecord]:
    """Insert; returns the spans that were new (those of a chunk held already are not)."""
    made = chunks(spans)
    if not made:
        return []
    try:
        await db.spans.insert_many([doc for doc, _ in made], ordered=False)
        return spans
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        held = {e["index"] for e in errors}
        new = [s for i, (_, chunk) in enumerate(made) if i not in held for s in chunk]
        if any(e.get("code") != 11000 for e in errors):
            raise PartlySaved(new) from exc
        return new


def _spans(doc: Document) -> list[SpanRecord]:
    return [span_from_json(v) for v in json.loads(doc["d"])]


async def trace_spans(db: AsyncDatabase[Document], trace_id: str, orgs: frozenset[str]) -> list[SpanRecord]:
    """The spans of one trace attributed to `orgs` (model.orgs_visible_to), in start order."""
    query = {"traces": trace_id, "org": {"$in": sorted(orgs)}}
    spans = [s async for doc in db.spans.find(query, {"d": 1}) for s in _spans(doc) if s.trace_id == trace_id]
    return sorted(spans, key=lambda s: s.start_ns)


async def search_spans(
    db: AsyncDatabase[Document], search: TraceSearch, orgs: frozenset[str], limit: int, chunks_read: int
) -> list[SpanRecord]:
    """Up to `limit` spans attributed to `orgs` that match, newest chunks first, reading at most
    `chunks_read` chunks (a search that matches little stops there, not at the end of the store)."""
    query: Document = {
        "org": {"$in": sorted(orgs)},
        "at": {"$lt": search.end},
        "until": {"$gte": search.start},
    }
    if search.service:
        query["services"] = search.service
    if search.case_id:
        query["cases"] = search.case_id
    if search.request_id:
        query["$or"] = [{"traces": search.request_id}, {"linked": search.request_id}]
    found: list[SpanRecord] = []
    async for doc in db.spans.find(query, {"d": 1}, sort=[("at", DESCENDING)], limit=chunks_read):
        found += [s for s in _spans(doc) if matches(s, search)]
        if len(found) >= limit:
            break
    return sorted(found, key=lambda s: s.start_ns, reverse=True)[:limit]


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


async def read_rollups(
    db: AsyncDatabase[Document], doc_ids: Iterable[str]
) -> dict[str, rollups.StoredSeries]:
    """By `_id` one at a time, side by side: the local store answers only `_id` equality from an index."""
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(doc_id: str) -> tuple[str, Document | None]:
        async with gate:
            return doc_id, await db.rollups.find_one({"_id": doc_id}, {"c": 1})

    found = await asyncio.gather(*(one(i) for i in set(doc_ids)))
    return {i: rollups.loads_stored(d["c"]) for i, d in found if d is not None}


async def delete_old_spans(db: AsyncDatabase[Document], before: datetime) -> int:
    """Chunks whose last span ended before `before`."""
    return await delete_old(db.spans, {"until": {"$lt": before}})


async def delete_old_rollups(db: AsyncDatabase[Document], res: str, before: datetime) -> int:
    return await delete_old(db.rollups, {"res": res, "at": {"$lt": before}})
