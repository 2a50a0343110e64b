"""Insights use cases: take exports in, roll them up, answer the dashboards and the trace views."""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pymongo.asynchronous.database import AsyncDatabase

from services.insights import boards, model, rollups, store
from services.insights.edges import EdgeFinder
from services.insights.settings import Settings
from shared.auth.principal import Principal
from shared.network import Network
from shared.retention import Counts, run_forever

log = logging.getLogger(__name__)
Document = dict[str, Any]
# A search reads at most this many chunks of spans (up to store.CHUNK_SPANS each), newest first.
SEARCH_CHUNKS = 500


@dataclass
class Pending:
    """What this process has rolled up and not yet written. A flush writes it every few seconds and
    when the service stops; a document whose write failed is kept for the next one."""

    cells: rollups.Rollups = field(default_factory=rollups.Rollups)
    unwritten: dict[str, rollups.Series] = field(default_factory=dict)
    edges: EdgeFinder = field(default_factory=EdgeFinder)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def take(self) -> rollups.Rollups:
        taken, self.cells = self.cells, rollups.Rollups()
        return taken


async def ingest(
    db: AsyncDatabase[Document], pending: Pending, request: ExportTraceServiceRequest
) -> model.Export:
    """Store the export's spans and roll up those that are new (a retried export must not count
    twice). Raises store.PartlySaved, after rolling up what landed, when the store refused part of it."""
    export = model.spans_from_otlp(request)
    try:
        new = await store.save_spans(db, export.spans)
    except store.PartlySaved as exc:
        _roll_up(pending, exc.saved)
        raise
    _roll_up(pending, new)
    return export


def _roll_up(pending: Pending, spans: list[model.SpanRecord]) -> None:
    for span in spans:
        pending.cells.add_span(span)
        for scope, at, caller, callee in pending.edges.see(span, rollups.scope_of(span)):
            pending.cells.add_edge(scope, at, caller, callee)


async def flush(db: AsyncDatabase[Document], pending: Pending) -> None:
    """Write what is pending, each document on its own: one that cannot be written (its period's
    document keeps changing, the store refuses it) waits for the next flush without holding up the
    others. Raises if any is left."""
    async with pending.lock:  # one flush at a time, so no document is merged twice at once
        docs, pending.unwritten = pending.unwritten, {}
        for doc_id, series in pending.take().documents().items():
            rollups.merge_series(docs.setdefault(doc_id, {}), series)
        failed: Exception | None = None
        for doc_id, series in list(docs.items()):
            try:
                await store.merge_rollup(db, doc_id, series)
                del docs[doc_id]
            except Exception as exc:
                failed = exc
        pending.unwritten = docs
        if failed is not None:
            raise failed


async def flush_forever(db: AsyncDatabase[Document], pending: Pending, interval: float) -> None:
    """Runs for the life of the service; the last flush happens when it is cancelled (the service stops)."""
    try:
        while True:
            await asyncio.sleep(interval)
            await _flush_logged(db, pending)
    finally:
        await asyncio.shield(_flush_logged(db, pending))


async def _flush_logged(db: AsyncDatabase[Document], pending: Pending) -> None:
    try:
        await flush(db, pending)
    except Exception:
        log.exception("writing rollups failed; the next flush tries again (at a stop: they are lost)")


async def dashboard(
    db: AsyncDatabase[Document], caller: Principal, network: Network, board: boards.Board, win: boards.Window
) -> dict[str, Any]:
    columns = boards.columns_for(caller, network, with_network=board.with_network)
    docs = await store.read_rollups(db, boards.documents_to_read(board, boards.scopes_of(columns), win))
    return boards.dashboard(board, columns, docs, win)


async def trace_for(
    db: AsyncDatabase[Document], caller: Principal, network: Network, trace_id: str
) -> list[model.SpanRecord]:
    return await store.trace_spans(db, trace_id, model.orgs_visible_to(caller, network))


async def search(
    db: AsyncDatabase[Document], caller: Principal, network: Network, search: model.TraceSearch
) -> list[model.TraceHit]:
    # Several spans of one trace may match: take more than asked, so enough traces come out of it.
    orgs = model.orgs_visible_to(caller, network)
    spans = await store.search_spans(db, search, orgs, search.limit * 20, chunks_read=SEARCH_CHUNKS)
    return model.hits(spans, search.limit)


async def retention_forever(db: AsyncDatabase[Document], settings: Settings) -> None:
    async def round_(now: datetime) -> Counts:
        return {
            "spans": await store.delete_old_spans(db, now - timedelta(days=settings.span_retention_days)),
            "minutes": await store.delete_old_rollups(
                db, "m", now - timedelta(days=settings.minute_rollup_days)
            ),
            "hours": await store.delete_old_rollups(db, "h", now - timedelta(days=settings.hour_rollup_days)),
            "days": await store.delete_old_rollups(db, "d", now - timedelta(days=settings.day_rollup_days)),
        }

    await run_forever(settings.service_name, round_, settings.retention_interval_seconds)
