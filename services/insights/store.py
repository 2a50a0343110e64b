"""Span documents. Attribute keys contain dots, which documents may not: they are stored as pairs."""

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.insights.model import SpanRecord

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.spans.create_index([("trace_id", ASCENDING), ("start_ns", ASCENDING)])
    await db.spans.create_index([("org", ASCENDING), ("trace_id", ASCENDING)])


def to_doc(s: SpanRecord) -> Document:
    return {
        "_id": f"{s.trace_id}:{s.span_id}",
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "name": s.name,
        "service": s.service,
        "kind": s.kind,
        "start_ns": s.start_ns,
        "end_ns": s.end_ns,
        "status_code": s.status_code,
        "org": s.org,
        "attributes": [{"key": k, "value": v} for k, v in s.attributes.items()],
        "links": [{"trace_id": t, "span_id": sp} for t, sp in s.links],
    }


def from_doc(d: Document) -> SpanRecord:
    return SpanRecord(
        trace_id=d["trace_id"],
        span_id=d["span_id"],
        parent_span_id=d["parent_span_id"],
        name=d["name"],
        service=d["service"],
        kind=d["kind"],
        start_ns=d["start_ns"],
        end_ns=d["end_ns"],
        status_code=d["status_code"],
        attributes={a["key"]: a["value"] for a in d["attributes"]},
        links=tuple((link["trace_id"], link["span_id"]) for link in d.get("links", [])),
    )


async def save_spans(db: AsyncDatabase[Document], spans: list[SpanRecord]) -> int:
    """Insert, ignoring spans already held (an exporter retries a batch it thinks failed)."""
    if not spans:
        return 0
    try:
        result = await db.spans.insert_many([to_doc(s) for s in spans], ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise
        return int(exc.details.get("nInserted", 0))


async def trace_spans(db: AsyncDatabase[Document], trace_id: str, orgs: frozenset[str]) -> list[SpanRecord]:
    """The spans of one trace attributed to `orgs` (model.orgs_visible_to), in start order."""
    query = {"trace_id": trace_id, "org": {"$in": sorted(orgs)}}
    cursor = db.spans.find(query, sort=[("start_ns", ASCENDING)], limit=5000)
    return [from_doc(d) async for d in cursor]
