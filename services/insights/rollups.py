"""Rollups: what every span adds to the dashboards' figures, by minute, hour and day. No I/O.

A span adds to cells (sketch.Cell) keyed by what it measures: its service and operation, and each fact
it carries (shared.telemetry.record_fact) with the fact's dimensions. Cells are kept per scope, the
organization the span's `rn.org` names, or NETWORK for a span that names none (work of no one
organization: it counts for the network, never for an organization).

Cells are stored as series, one document per period: the minutes of an hour, the hours of a day, the
days of a month. A dashboard over 30 days by day reads two documents per organization, and one over a
day by hour reads one, whatever the traffic was.
"""

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.insights.model import SpanRecord
from services.insights.sketch import Cell, StoredCell, merge_into
from shared.telemetry import DURATION_MS, FACT_DIMENSIONS, FACT_MENTORING_MATCHED

NETWORK = "-"  # the scope of spans that name no organization
# The documents of a period and scope are split by what reads them, so a board reads only its own:
# SPANS (operations, the service map's arrows), HEARD (which services sent spans), and one per fact
# domain (`rn.<domain>.<fact>`: crisis, notification, messaging, mentoring, meetings).
Kind = str
SPANS: Kind = "spans"
HEARD_KIND: Kind = "heard"
Res = Literal["m", "h", "d"]
RESOLUTIONS: tuple[Res, ...] = ("m", "h", "d")
SECONDS: dict[Res, int] = {"m": 60, "h": 3600, "d": 86400}

# Keys of cells: a name and its dimensions, as JSON, so no name or value needs escaping.
OPERATION = "span"
EDGE = "edge"
HEARD = "heard"  # one count per span of a service: a figure with no source heard from is "no data"
# A match counted at the time its request was made: "requests of this window not yet matched" is then
# the requests of the window less these, however long after the window the matches came.
MATCHED_AT_REQUEST = f"{FACT_MENTORING_MATCHED}@request"


def key(name: str, **dims: Any) -> str:
    try:
        return _key(name, tuple(sorted(dims.items())))
    except TypeError:  # a list among the values: not hashable, so not cached
        return json.dumps([name, dims], sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=65536)
def _key(name: str, dims: tuple[tuple[str, Any], ...]) -> str:
    # Cached: every span makes keys, and a network has a few hundred different ones.
    return json.dumps([name, dict(dims)], separators=(",", ":"))


@functools.lru_cache(maxsize=65536)
def parse_key(text: str) -> tuple[str, dict[str, Any]]:
    """Cached: a dashboard meets the same few hundred keys in every cell of its window."""
    name, dims = json.loads(text)
    return name, dims


def bucket(ts: int, res: Res) -> int:
    return ts - ts % SECONDS[res]


def period(ts: int, res: Res) -> int:
    """The start of the document a cell at `ts` lives in: its hour, day or month."""
    if res == "m":
        return bucket(ts, "h")
    if res == "h":
        return bucket(ts, "d")
    day = datetime.fromtimestamp(ts, UTC)
    return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp())


def scope_of(span: SpanRecord) -> str:
    return span.org or NETWORK


def fact_domain(name: str) -> Kind:
    return name.split(".")[1]


def doc_id(res: Res, period_start: int, scope: str, kind: Kind) -> str:
    return f"{res}|{period_start}|{scope}|{kind}"


def observations(span: SpanRecord) -> Iterable[tuple[Kind, int, str, float | None, bool]]:
    """(kind, unix seconds, cell key, duration in ms or None, error) for each thing the span adds."""
    start = span.start_ns // 1_000_000_000
    operation = key(OPERATION, service=span.service, operation=span.name)
    yield SPANS, start, operation, span.duration_ms, span.error
    yield HEARD_KIND, start, key(HEARD, service=span.service), None, False
    for fact in span.facts:
        ms = fact.attributes.get(DURATION_MS)
        ms = float(ms) if isinstance(ms, int | float) and not isinstance(ms, bool) else None
        dims = {k: v for k, v in fact.attributes.items() if k in FACT_DIMENSIONS}
        if fact.name.startswith("rn.messaging."):
            dims["service"] = span.service  # dead letters and redeliveries are per consumer
        at = (fact.time_ns or span.start_ns) // 1_000_000_000
        domain = fact_domain(fact.name)
        yield domain, at, key(fact.name, **dims), ms, False
        if fact.name == FACT_MENTORING_MATCHED and ms is not None:
            yield domain, at - int(ms / 1000), key(MATCHED_AT_REQUEST), None, False


@dataclass
class Rollups:
    """Cells of minutes not yet written, by scope and kind. A span adds to its minute's cells only;
    the hours and days are made of the minutes when they are written (`documents`)."""

    minutes: dict[tuple[str, Kind], "Series"] = field(default_factory=dict)

    def add(self, scope: str, kind: Kind, ts: int, cell_key: str, ms: float | None, error: bool) -> None:
        series = self.minutes.setdefault((scope, kind), {})
        series.setdefault(bucket(ts, "m"), {}).setdefault(cell_key, Cell()).add(ms, error=error)

    def add_span(self, span: SpanRecord) -> None:
        scope = scope_of(span)
        for kind, ts, cell_key, ms, error in observations(span):
            self.add(scope, kind, ts, cell_key, ms, error)

    def add_edge(self, scope: str, ts: int, caller: str, callee: str) -> None:
        """A span of `callee` whose parent is a span of `caller`: one arrow of the service map."""
        self.add(scope, SPANS, ts, key(EDGE, caller=caller, callee=callee), None, False)

    def documents(self) -> dict[str, "Series"]:
        """The series to add to each stored document: minutes of an hour, hours of a day, days of a month."""
        docs: dict[str, Series] = {}
        for (scope, kind), series in self.minutes.items():
            for ts, cells in series.items():
                for res in RESOLUTIONS:
                    doc = docs.setdefault(doc_id(res, period(ts, res), scope, kind), {})
                    merge_into(doc.setdefault(bucket(ts, res), {}), cells)
        return docs


Series = dict[int, dict[str, Cell]]


def merge_series(into: Series, series: Series) -> None:
    for ts, cells in series.items():
        merge_into(into.setdefault(ts, {}), cells)


def dumps(series: Series) -> str:
    return json.dumps(
        {str(ts): {k: c.to_json() for k, c in cells.items()} for ts, cells in series.items()},
        separators=(",", ":"),
    )


def loads(text: str) -> Series:
    data = json.loads(text)
    return {int(ts): {k: Cell.from_json(c) for k, c in cells.items()} for ts, cells in data.items()}


StoredSeries = dict[int, dict[str, StoredCell]]


def loads_stored(text: str) -> StoredSeries:
    """For reading only: cells as stored, without making a Cell of each."""
    return {int(ts): cells for ts, cells in json.loads(text).items()}
