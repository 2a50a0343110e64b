"""Insights use cases."""

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pymongo.asynchronous.database import AsyncDatabase

from services.insights import model, store
from shared.auth.principal import Principal
from shared.network import Network


async def ingest(db: AsyncDatabase[dict[str, Any]], request: ExportTraceServiceRequest) -> int:
    return await store.save_spans(db, model.spans_from_otlp(request))


async def trace_for(
    db: AsyncDatabase[dict[str, Any]], caller: Principal, network: Network, trace_id: str
) -> list[model.SpanRecord]:
    return await store.trace_spans(db, trace_id, model.orgs_visible_to(caller, network))
