"""Rollups and sketches without infrastructure: spans at chosen times stand in for a clock."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from ddsketch import DDSketch

from services.insights import boards, rollups
from services.insights.edges import EdgeFinder
from services.insights.model import Fact, SpanRecord
from services.insights.sketch import RELATIVE_ACCURACY, Cell
from shared.auth.principal import Principal, Role
from shared.network import Network
from shared.telemetry import CRISIS_LEVEL, DURATION_MS, FACT_CRISIS_ACKNOWLEDGED, FACT_CRISIS_OPENED, ORG

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
NETWORK = Network.model_validate(
    {
        "regions": [{"id": "lakeshore", "name": "Lakeshore"}, {"id": "hills", "name": "Hills"}],
        "organizations": [
            {"id": "org-a", "name": "A", "region": "lakeshore"},
            {"id": "org-b", "name": "B", "region": "lakeshore"},
            {"id": "org-c", "name": "C", "region": "hills"},
        ],
    }
)


def span(
    at: datetime,
    ms: float,
    *,
    org: str | None = "org-a",
    service: str = "crisis",
    name: str = "POST /crisis/alerts",
    error: bool = False,
    facts: tuple[Fact, ...] = (),
    span_id: str | None = None,
    parent: str | None = None,
) -> SpanRecord:
    start = int(at.timestamp() * 1e9)
    return SpanRecord(
        trace_id="ab" * 16,
        span_id=span_id or f"{random.getrandbits(64):016x}",
        parent_span_id=parent,
        name=name,
        service=service,
        kind=2,
        start_ns=start,
        end_ns=start + int(ms * 1e6),
        status_code=2 if error else 1,
        attributes={ORG: org} if org else {},
        facts=facts,
    )


def admin(org: str) -> Principal:
    return Principal(sub="u", org=org, roles=frozenset({Role.ORG_ADMIN}), regions=frozenset())


def network_admin() -> Principal:
    return Principal(
        sub="n", org="org-a", roles=frozenset({Role.NETWORK_ADMIN}), regions=frozenset({"lakeshore"})
    )


def read(
    r: rollups.Rollups, board: str, caller: Principal, start: datetime, end: datetime, step: boards.Step
):
    b = boards.BOARDS[board]
    columns = boards.columns_for(caller, NETWORK, with_network=b.with_network)
    stored = {doc: rollups.loads_stored(rollups.dumps(series)) for doc, series in r.documents().items()}
    return boards.dashboard(b, columns, stored, boards.window(start, end, step))


def figure(result: dict, figure_id: str, column: str) -> dict | None:
    (found,) = [f for f in result["figures"] if f["id"] == figure_id]
    return found["values"][column]


def test_quantiles_of_merged_minutes_are_those_of_all_durations_within_the_sketch_error() -> None:
    rng = random.Random(7)
    durations = [rng.lognormvariate(3, 1.2) for _ in range(20_000)]
    minutes = [Cell() for _ in range(60)]
    for i, ms in enumerate(durations):
        minutes[i % 60].add(ms)
    merged = Cell()
    for cell in minutes:
        merged.merge(cell)
    reference = DDSketch(RELATIVE_ACCURACY)
    for ms in durations:
        reference.add(ms)
    exact = sorted(durations)
    for q in (0.5, 0.9, 0.99):
        got = merged.quantile(q)
        assert got is not None
        assert got == pytest.approx(reference.get_quantile_value(q), rel=1e-9)
        true = exact[int(q * (len(exact) - 1))]
        assert abs(got - true) <= RELATIVE_ACCURACY * true * 1.0001


def test_a_cell_survives_its_stored_form() -> None:
    cell = Cell()
    for ms in (0.0, 0.5, 12.0, 12.1, 900.0):
        cell.add(ms, error=ms > 100)
    again = Cell.from_json(cell.to_json())
    assert again == cell
    assert again.quantile(0.0) == 0.0


def test_a_minute_counts_in_its_minute_hour_and_day_documents() -> None:
    r = rollups.Rollups()
    r.add_span(span(T0 + timedelta(minutes=5, seconds=30), 40.0))
    ts = int(T0.timestamp())
    assert set(r.documents()) == {rollups.doc_id("m", ts, "org-a", kind) for kind in ("spans", "heard")} | {
        rollups.doc_id("h", ts - 9 * 3600, "org-a", kind) for kind in ("spans", "heard")
    } | {
        rollups.doc_id("d", int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()), "org-a", kind)
        for kind in ("spans", "heard")
    }
    minute_doc = r.documents()[rollups.doc_id("m", ts, "org-a", "spans")]
    assert list(minute_doc) == [ts + 300]


def test_a_window_reads_series_and_gives_counts_and_quantiles_per_step() -> None:
    r = rollups.Rollups()
    acks = [30_000.0, 60_000.0, 90_000.0]
    for i, ms in enumerate(acks):
        at = T0 + timedelta(hours=i)
        opened = Fact(FACT_CRISIS_OPENED, int(at.timestamp() * 1e9), {CRISIS_LEVEL: 2})
        acked = Fact(FACT_CRISIS_ACKNOWLEDGED, int(at.timestamp() * 1e9) + 1, {DURATION_MS: ms})
        r.add_span(span(at, 5.0, facts=(opened, acked)))
    result = read(r, "crisis", admin("org-a"), T0, T0 + timedelta(hours=3), "hour")
    opened_value = figure(result, "cases_opened", "org-a")
    assert opened_value == {"total": 3, "series": [1, 1, 1], "by": {"2": 3}}
    ack = figure(result, "time_to_acknowledge", "org-a")
    assert ack is not None and ack["count"] == 3
    assert ack["p50"] == pytest.approx(60_000.0, rel=RELATIVE_ACCURACY)
    # DDSketch's rank is q * (n - 1) rounded down: of three durations, p99 is the second.
    assert ack["p99"] == pytest.approx(60_000.0, rel=RELATIVE_ACCURACY)
    by_day = read(r, "crisis", admin("org-a"), T0 - timedelta(days=2), T0 + timedelta(days=1), "day")
    # The window widens to whole days: from the 31st 00:00 to the 4th 00:00.
    assert figure(by_day, "cases_opened", "org-a")["series"] == [0, 0, 3, 0]  # type: ignore[index]
    by_week = read(r, "crisis", admin("org-a"), T0, T0 + timedelta(days=14), "week")
    assert by_week["times"][0] == int(T0.replace(hour=0).timestamp())  # weeks start on Monday
    assert figure(by_week, "cases_opened", "org-a")["series"] == [3, 0, 0]  # type: ignore[index]


def test_a_figure_whose_source_sent_nothing_is_no_data_and_one_that_did_is_zero() -> None:
    r = rollups.Rollups()
    r.add_span(span(T0, 5.0))  # crisis was heard from, and nothing was opened
    result = read(r, "crisis", admin("org-a"), T0, T0 + timedelta(hours=1), "minute")
    assert figure(result, "cases_opened", "org-a")["total"] == 0  # type: ignore[index]
    assert figure(result, "first_delivery", "org-a") is None  # notifications sent no span
    people = read(r, "people", admin("org-a"), T0, T0 + timedelta(hours=1), "minute")
    assert all(v is None for f in people["figures"] for v in f["values"].values())


def test_an_organization_sees_its_own_cells_and_a_network_admin_each_of_the_region_and_its_sum() -> None:
    r = rollups.Rollups()
    opened = Fact(FACT_CRISIS_OPENED, int(T0.timestamp() * 1e9), {CRISIS_LEVEL: 1})
    for org, n in (("org-a", 2), ("org-b", 1), ("org-c", 5), (None, 4)):
        for _ in range(n):
            r.add_span(span(T0, 5.0, org=org, facts=(opened,)))
    window = (T0, T0 + timedelta(hours=1), "minute")
    mine = read(r, "crisis", admin("org-b"), *window)  # type: ignore[arg-type]
    assert [c["id"] for c in mine["columns"]] == ["org-b"]
    assert figure(mine, "cases_opened", "org-b")["total"] == 1  # type: ignore[index]
    theirs = read(r, "crisis", network_admin(), *window)  # type: ignore[arg-type]
    assert [c["id"] for c in theirs["columns"]] == ["org-a", "org-b", "region:lakeshore"]
    totals = [figure(theirs, "cases_opened", c)["total"] for c in ("org-a", "org-b", "region:lakeshore")]  # type: ignore[index]
    assert totals == [2, 1, 3]  # org-c is in another region, spans naming no organization in none
    services = read(r, "services", network_admin(), *window)  # type: ignore[arg-type]
    assert [c["id"] for c in services["columns"]][-1] == "network:"
    assert figure(services, "operations", "network:")["rows"][0]["count"] == 4  # type: ignore[index]


def test_operations_count_errors_and_rates() -> None:
    r = rollups.Rollups()
    for i in range(10):
        r.add_span(span(T0 + timedelta(seconds=i), 10.0 + i, error=i < 3))
    result = read(r, "services", admin("org-a"), T0, T0 + timedelta(minutes=10), "minute")
    (row,) = figure(result, "operations", "org-a")["rows"]  # type: ignore[index]
    assert (row["service"], row["operation"], row["count"], row["errors"], row["per_minute"]) == (
        "crisis",
        "POST /crisis/alerts",
        10,
        3,
        1.0,
    )


def test_arrows_of_the_service_map_are_found_whichever_span_comes_first() -> None:
    finder = EdgeFinder()
    publish = span(T0, 1.0, service="crisis", span_id="1" * 16)
    process = span(T0, 1.0, service="notifications", span_id="2" * 16, parent="1" * 16)
    db_call = span(T0, 1.0, service="notifications", span_id="3" * 16, parent="2" * 16)
    assert finder.see(process, "org-a") == []  # its parent has not come yet
    assert finder.see(publish, "org-a") == [("org-a", int(T0.timestamp()), "crisis", "notifications")]
    assert finder.see(db_call, "org-a") == []  # same service: no arrow


def test_a_window_must_be_ordered_and_not_too_long_for_its_step() -> None:
    with pytest.raises(boards.BadWindow):
        boards.window(T0, T0, "hour")
    with pytest.raises(boards.BadWindow):
        boards.window(T0, T0 + timedelta(days=2), "minute")
