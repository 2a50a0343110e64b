"""The dashboards: which figures each shows, for which columns, over which window. No I/O.

A board reads the rollup documents of its window (`documents_to_read`) and turns their cells into
figures per column (`figures`). A column is an organization, a region (its organizations merged), or,
for a network admin's Services board, the network's own work (spans naming no organization).
A figure whose source service sent no span in the window is None ("no data"), never zero.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from services.insights import rollups
from services.insights.rollups import (
    EDGE,
    HEARD,
    HEARD_KIND,
    NETWORK,
    OPERATION,
    SPANS,
    Kind,
    Res,
    StoredSeries,
)
from services.insights.sketch import StoredCell, quantiles
from shared.auth.principal import Principal, Role
from shared.network import Network
from shared.telemetry import (
    CATCH_ALL,
    CATEGORY,
    CHANNEL,
    CRISIS_LEVEL,
    FACT_CRISIS_ACKNOWLEDGED,
    FACT_CRISIS_ESCALATED,
    FACT_CRISIS_FIRST_DELIVERY,
    FACT_CRISIS_FOLLOW_UP_DONE,
    FACT_CRISIS_OPENED,
    FACT_MEETING_ATTENDED,
    FACT_MENTORING_CHECK_IN_OVERDUE,
    FACT_MENTORING_MATCHED,
    FACT_MENTORING_REQUESTED,
    FACT_MESSAGE_DEAD_LETTERED,
    FACT_MESSAGE_REDELIVERED,
    FACT_NOTIFICATION_DELIVERED,
    FACT_NOTIFICATION_FAILED,
    FACT_NOTIFICATION_FALLBACK,
    MEETING_ID,
    ON_TIME,
    STREAM,
)

Step = Literal["minute", "hour", "day", "week"]
STEP_RES: dict[Step, Res] = {"minute": "m", "hour": "h", "day": "d", "week": "d"}
STEP_SECONDS: dict[Step, int] = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
# The longest window each step may cover: a chart of more points than this says nothing more.
MAX_WINDOW: dict[Step, timedelta] = {
    "minute": timedelta(days=1),
    "hour": timedelta(days=31),
    "day": timedelta(days=400),
    "week": timedelta(days=800),
}
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
# Monday 1970-01-05: weeks start on a Monday, in UTC like every bucket here.
FIRST_MONDAY = 4 * 86400


class BadWindow(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    start: int  # unix seconds, the first bucket's start
    end: int  # exclusive
    step: Step

    @property
    def times(self) -> list[int]:
        return list(range(self.start, self.end, STEP_SECONDS[self.step]))

    def slot(self, ts: int) -> int:
        """The chart point a cell's bucket falls in."""
        return slot(ts, self.step)


def slot(ts: int, step: Step) -> int:
    if step == "week":
        return ts - (ts - FIRST_MONDAY) % STEP_SECONDS["week"]
    return ts - ts % STEP_SECONDS[step]


# Buckets are whole steps in unix time: a window must fit, whole steps included, in datetime's years.
LAST_SECOND = int(datetime(9999, 12, 1, tzinfo=UTC).timestamp())


def window(start: datetime, end: datetime, step: Step) -> Window:
    if end <= start:
        raise BadWindow("the end of the window must come after its start")
    if end - start > MAX_WINDOW[step]:
        raise BadWindow(f"a window by {step} may cover at most {MAX_WINDOW[step].days} days")
    if start.timestamp() < 0 or end.timestamp() > LAST_SECOND:
        raise BadWindow("a window must lie between 1970 and 9999-12")
    size = STEP_SECONDS[step]
    first = slot(int(start.timestamp()), step)
    last = int(end.timestamp())
    return Window(first, first + -(-(last - first) // size) * size, step)


def default_step(span: timedelta) -> Step:
    if span <= timedelta(hours=3):
        return "minute"
    if span <= timedelta(days=8):
        return "hour"
    return "day"


@dataclass(frozen=True)
class Column:
    id: str
    name: str
    kind: Literal["organization", "region", "network"]
    scopes: tuple[str, ...]  # the rollup scopes merged into it


def columns_for(caller: Principal, network: Network, *, with_network: bool = False) -> list[Column]:
    """An org admin's own organization; a network admin's organizations of their regions, each
    region merged, and (with_network) the work naming no organization."""
    names = {o.id: o.name for o in network.organizations}
    if Role.NETWORK_ADMIN not in caller.roles:
        return [Column(caller.org, names.get(caller.org, caller.org), "organization", (caller.org,))]
    cols = []
    for region in network.regions:
        if region.id not in caller.regions:
            continue
        orgs = [o for o in network.organizations if o.region == region.id]
        cols += [Column(o.id, o.name, "organization", (o.id,)) for o in orgs]
        cols.append(
            Column(f"region:{region.id}", f"{region.name} (region)", "region", tuple(o.id for o in orgs))
        )
    if with_network:
        cols.append(Column("network:", "Network (no organization)", "network", (NETWORK,)))
    return cols


# --- figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Select:
    """The cells of one fact (or of operations, arrows...) whose dimensions have these values."""

    name: str
    where: tuple[tuple[str, Any], ...] = ()

    def holds(self, dims: dict[str, Any]) -> bool:
        return all(dims.get(k) == v for k, v in self.where)


def fact(name: str, **where: Any) -> Select:
    return Select(name, tuple(sorted(where.items())))


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    kind: Literal["count", "quantiles", "share", "difference", "operations", "edges"]
    source: str | None  # the service that must have been heard from; None: any
    match: Select
    by: str | None = None  # the dimension a count is broken down by
    part: Select | None = None  # share: which of the counted are the part; difference: what to subtract
    unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class Board:
    id: str
    title: str
    kinds: tuple[Kind, ...]
    figures: tuple[Figure, ...]
    with_network: bool = False


BOARDS = {
    b.id: b
    for b in (
        Board(
            "crisis",
            "Crisis",
            ("crisis", HEARD_KIND),
            (
                Figure(
                    "cases_opened",
                    "Cases opened",
                    "count",
                    "crisis",
                    fact(FACT_CRISIS_OPENED),
                    by=CRISIS_LEVEL,
                ),
                Figure(
                    "first_delivery",
                    "Alert to first escalation delivered",
                    "quantiles",
                    "notifications",
                    fact(FACT_CRISIS_FIRST_DELIVERY),
                    unit="ms",
                ),
                Figure(
                    "time_to_acknowledge",
                    "Time to acknowledge",
                    "quantiles",
                    "crisis",
                    fact(FACT_CRISIS_ACKNOWLEDGED),
                    unit="ms",
                ),
                Figure(
                    "escalations",
                    "Escalations by level",
                    "count",
                    "crisis",
                    fact(FACT_CRISIS_ESCALATED),
                    by=CRISIS_LEVEL,
                ),
                Figure(
                    "catch_all",
                    "Cases reaching the catch-all",
                    "count",
                    "crisis",
                    fact(FACT_CRISIS_ESCALATED, **{CATCH_ALL: True}),
                ),
                Figure(
                    "caring_contacts",
                    "Caring contacts done within 24 h",
                    "share",
                    "crisis",
                    fact(FACT_CRISIS_FOLLOW_UP_DONE),
                    part=fact(FACT_CRISIS_FOLLOW_UP_DONE, **{ON_TIME: True}),
                ),
            ),
        ),
        Board(
            "notifications",
            "Notifications",
            ("notification", "messaging", HEARD_KIND),
            (
                Figure(
                    "delivered",
                    "Deliveries by channel",
                    "count",
                    "notifications",
                    fact(FACT_NOTIFICATION_DELIVERED),
                    by=CHANNEL,
                ),
                Figure(
                    "failed",
                    "Failures by channel",
                    "count",
                    "notifications",
                    fact(FACT_NOTIFICATION_FAILED),
                    by=CHANNEL,
                ),
                Figure(
                    "latency",
                    "Delivery latency",
                    "quantiles",
                    "notifications",
                    fact(FACT_NOTIFICATION_DELIVERED),
                    unit="ms",
                ),
                Figure(
                    "by_category",
                    "Deliveries by category",
                    "count",
                    "notifications",
                    fact(FACT_NOTIFICATION_DELIVERED),
                    by=CATEGORY,
                ),
                Figure(
                    "fallbacks",
                    "Crisis fallbacks, by the channel that failed",
                    "count",
                    "notifications",
                    fact(FACT_NOTIFICATION_FALLBACK),
                    by=CHANNEL,
                ),
                Figure(
                    "dead_letters",
                    "Dead letters",
                    "count",
                    "notifications",
                    fact(FACT_MESSAGE_DEAD_LETTERED, service="notifications"),
                    by=STREAM,
                ),
            ),
        ),
        Board(
            "people",
            "Mentoring and meetings",
            ("mentoring", "meetings", HEARD_KIND),
            (
                Figure("requests", "Mentor requests", "count", "mentoring", fact(FACT_MENTORING_REQUESTED)),
                Figure(
                    "waiting",
                    "Requests still waiting",
                    "difference",
                    "mentoring",
                    fact(FACT_MENTORING_REQUESTED),
                    part=fact(rollups.MATCHED_AT_REQUEST),
                    note="requests made in this window and not matched since",
                ),
                Figure(
                    "time_to_match",
                    "Time to a match",
                    "quantiles",
                    "mentoring",
                    fact(FACT_MENTORING_MATCHED),
                    unit="ms",
                ),
                Figure(
                    "overdue",
                    "Check-ins overdue",
                    "count",
                    "mentoring",
                    fact(FACT_MENTORING_CHECK_IN_OVERDUE),
                ),
                Figure(
                    "attendance",
                    "Attendance by meeting",
                    "count",
                    "meetings",
                    fact(FACT_MEETING_ATTENDED),
                    by=MEETING_ID,
                ),
            ),
        ),
        Board(
            "services",
            "Services",
            (SPANS, "messaging", HEARD_KIND),
            (
                Figure("operations", "Operations", "operations", None, fact(OPERATION)),
                Figure("service_map", "Service map", "edges", None, fact(EDGE)),
                Figure(
                    "redeliveries",
                    "Redeliveries by stream",
                    "count",
                    None,
                    fact(FACT_MESSAGE_REDELIVERED),
                    by=STREAM,
                ),
                Figure(
                    "dead_letters",
                    "Dead letters by stream",
                    "count",
                    None,
                    fact(FACT_MESSAGE_DEAD_LETTERED),
                    by=STREAM,
                ),
            ),
            with_network=True,
        ),
    )
}


def scopes_of(columns: Iterable[Column]) -> list[str]:
    return sorted({s for c in columns for s in c.scopes})


def documents_to_read(board: Board, scopes: Iterable[str], win: Window) -> list[str]:
    res = STEP_RES[win.step]
    periods = sorted({rollups.period(ts, res) for ts in range(win.start, win.end, rollups.SECONDS[res])})
    return [rollups.doc_id(res, p, s, k) for p in periods for s in scopes for k in board.kinds]


# Per column, the cells of the window by name: (chart point, dimensions, stored cell).
Index = dict[str, list[tuple[int, dict[str, Any], StoredCell]]]


def _scope_index(docs: dict[str, StoredSeries], scope: str, board: Board, win: Window) -> Index:
    """The scope's cells within the window (its periods together), by name. Nothing is merged here:
    each figure adds up only the cells it reads."""
    index: Index = {}
    res = STEP_RES[win.step]
    for doc_id in documents_to_read(board, [scope], win):
        for ts, cells in docs.get(doc_id, {}).items():
            if not (win.start <= ts < win.end and rollups.bucket(ts, res) == ts):
                continue
            slot = win.slot(ts)
            for cell_key, cell in cells.items():
                name, dims = rollups.parse_key(cell_key)
                index.setdefault(name, []).append((slot, dims, cell))
    return index


def _column_index(scopes: dict[str, Index], column: Column) -> Index:
    if len(column.scopes) == 1:
        return scopes[column.scopes[0]]
    merged: Index = {}
    for scope in column.scopes:
        for name, entries in scopes[scope].items():
            merged.setdefault(name, []).extend(entries)
    return merged


def _select(index: Index, select: Select) -> list[tuple[int, dict[str, Any], StoredCell]]:
    return [entry for entry in index.get(select.name, ()) if select.holds(entry[1])]


def _per_point(found: list[tuple[int, dict[str, Any], StoredCell]], win: Window) -> list[int]:
    points: Counter[int] = Counter()
    for slot, _, cell in found:
        points[slot] += cell["n"]
    return [points[t] for t in win.times]


def heard_from(index: Index) -> set[str]:
    return {dims["service"] for _, dims, _ in index.get(HEARD, ())}


def figure_value(figure: Figure, index: Index, win: Window) -> dict[str, Any] | None:
    heard = heard_from(index)
    if (figure.source is not None and figure.source not in heard) or not heard:
        return None
    found = _select(index, figure.match)
    total = sum(cell["n"] for _, _, cell in found)
    if figure.kind == "count":
        value: dict[str, Any] = {"total": total, "series": _per_point(found, win)}
        if figure.by:
            by: Counter[str] = Counter()
            for _, dims, cell in found:
                by[str(dims.get(figure.by, "unknown"))] += cell["n"]
            value["by"] = dict(sorted(by.items()))
        return value
    if figure.kind == "quantiles":
        by_point: dict[int, list[StoredCell]] = {}
        for slot, _, cell in found:
            by_point.setdefault(slot, []).append(cell)
        medians = {t: quantiles(cells, {"p50": 0.5})["p50"] for t, cells in by_point.items()}
        whole = quantiles((cell for _, _, cell in found), QUANTILES)
        return {"count": total, **whole, "series": [medians.get(t) for t in win.times]}
    if figure.kind in {"share", "difference"}:
        assert figure.part is not None
        part = sum(cell["n"] for _, _, cell in _select(index, figure.part))
        if figure.kind == "difference":
            return {"total": max(0, total - part)}
        return {"total": total, "part": part, "series": _per_point(found, win)}
    if figure.kind == "operations":
        return _operations(found, win)
    edges: Counter[tuple[str, str]] = Counter()
    for _, dims, cell in found:
        edges[(dims["caller"], dims["callee"])] += cell["n"]
    return {"edges": [{"from": a, "to": b, "count": n} for (a, b), n in sorted(edges.items())]}


def _operations(found: list[tuple[int, dict[str, Any], StoredCell]], win: Window) -> dict[str, Any]:
    ops: dict[tuple[str, str], list[StoredCell]] = {}
    by_service: dict[str, Counter[int]] = {}
    for slot, dims, cell in found:
        ops.setdefault((dims["service"], dims["operation"]), []).append(cell)
        by_service.setdefault(dims["service"], Counter())[slot] += cell["n"]
    minutes = (win.end - win.start) / 60
    rows = []
    for (service, operation), cells in sorted(ops.items()):
        count = sum(c["n"] for c in cells)
        rows.append(
            {
                "service": service,
                "operation": operation,
                "count": count,
                "errors": sum(c["e"] for c in cells),
                "per_minute": round(count / minutes, 3),
                **quantiles(cells, QUANTILES),
            }
        )
    series = {s: [points[t] for t in win.times] for s, points in sorted(by_service.items())}
    return {"rows": rows, "series_by_service": series}


def dashboard(
    board: Board, columns: list[Column], docs: dict[str, StoredSeries], win: Window
) -> dict[str, Any]:
    scopes = {s: _scope_index(docs, s, board, win) for s in scopes_of(columns)}
    by_column = {c.id: _column_index(scopes, c) for c in columns}
    return {
        "board": board.id,
        "title": board.title,
        "start": datetime.fromtimestamp(win.start, UTC),
        "end": datetime.fromtimestamp(win.end, UTC),
        "step": win.step,
        "times": win.times,
        "columns": [{"id": c.id, "name": c.name, "kind": c.kind} for c in columns],
        "figures": [
            {
                "id": f.id,
                "title": f.title,
                "kind": f.kind,
                "unit": f.unit,
                "note": f.note,
                "values": {c.id: figure_value(f, by_column[c.id], win) for c in columns},
            }
            for f in board.figures
        ],
    }
