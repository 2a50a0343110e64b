"""The service map's arrows: a span whose parent is a span of another service. No I/O.

A parent and its child arrive in different exports (each service exports its own spans), in either
order, usually seconds apart. The last `capacity` spans seen are remembered by id, and children whose
parent has not come yet wait for it, so an arrow is found once whichever comes second. Memory only:
an arrow whose two spans reach different replicas, or arrive further apart than the memory holds, is
not drawn (the spans themselves are all stored).
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from services.insights.model import SpanRecord

Edge = tuple[str, int, str, str]  # scope, unix seconds, caller service, callee service


@dataclass
class EdgeFinder:
    capacity: int = 200_000
    services: OrderedDict[str, str] = field(default_factory=OrderedDict)  # span id -> its service
    waiting: OrderedDict[str, list[tuple[str, int, str]]] = field(default_factory=OrderedDict)

    def see(self, span: SpanRecord, scope: str) -> list[Edge]:
        """Remember the span; returns the arrows it completes."""
        edges: list[Edge] = []
        at = span.start_ns // 1_000_000_000
        if span.parent_span_id:
            parent = self.services.get(span.parent_span_id)
            if parent is None:
                self.waiting.setdefault(span.parent_span_id, []).append((scope, at, span.service))
                self._trim(self.waiting)
            elif parent != span.service:
                edges.append((scope, at, parent, span.service))
        for child_scope, child_at, child in self.waiting.pop(span.span_id, []):
            if child != span.service:
                edges.append((child_scope, child_at, span.service, child))
        self.services[span.span_id] = span.service
        self._trim(self.services)
        return edges

    def _trim(self, memory: "OrderedDict[str, Any]") -> None:
        while len(memory) > self.capacity:
            memory.popitem(last=False)
