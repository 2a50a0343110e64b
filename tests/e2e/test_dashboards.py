"""The insights dashboards after real flows: the figures match what the test did, each admin sees only
their own organizations, and the page shows the same in headless Chromium (screenshots under
test-output/dashboards/).

The flows run once for the module in two organizations and a region of their own. The dashboards read
per-minute rollups, so a window starting "when the test started" really starts at that minute: another
test's alerts in org-a a few seconds earlier would be counted with these.
"""

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, eventually, joined, put_staff

pytestmark = pytest.mark.e2e

LONG = 240  # minutes: no escalation moves on by itself while the test looks
SKETCH_ERROR = 0.01  # the quantile sketch's relative accuracy (services/insights/sketch.py)
SKEW_MS = 5.0  # the test's clock and the services' are the same machine's, read a few ms apart
SHOTS = OUTPUT / "dashboards"
# What the page's Content-Security-Policy refused: nothing, or some part of the page does not work.
RECORD_REFUSALS = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__refused.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@dataclass(frozen=True)
class Place:
    a: str
    b: str
    region: str
    names: dict[str, str]


@dataclass
class Flows:
    started: datetime
    cases: list[str] = field(default_factory=list)  # A's, in the order raised
    traces: list[str] = field(default_factory=list)  # the trace each alert's request started
    waits_ms: list[tuple[float, float]] = field(default_factory=list)  # raise -> ack, at least / at most
    b_case: str = ""
    meeting_id: str = ""


@pytest.fixture(scope="module")
def place(network: Stack) -> Iterator[Place]:
    """Two organizations and their region, of this module's own: nobody else's cases in the counts."""
    tag = new_id()[-8:]
    a, b, region = f"dash-a-{tag}", f"dash-b-{tag}", f"dash-{tag}"
    names = {a: "Northshore Recovery", b: "Bayside Peer Support", region: "Eastlake"}
    organizations = [{"id": org, "name": names[org], "region": region} for org in (a, b)]
    with joined(network.network_file, [{"id": region, "name": names[region]}], organizations):
        yield Place(a, b, region, names)


async def set_up_crisis(http: httpx.AsyncClient, crisis: str, tokens: Tokens, org: str) -> None:
    admin = tokens(f"admin-{org}", org, Role.ORG_ADMIN)
    await put_staff(http, crisis, admin, {f"responder-{org}": ["responder"], f"coord-{org}": ["coordinator"]})
    r = await http.put(
        f"{crisis}/crisis/rosters/oncall",
        json={"responder_ids": [f"responder-{org}"], "rotation_start": "2026-01-05T09:00:00"},
        headers=admin,
    )
    assert r.status_code == 204, r.text
    protocol = {
        "levels": [
            {"roster_id": "oncall", "timeout_minutes": LONG},
            {"responder_ids": [f"coord-{org}"], "timeout_minutes": LONG},
        ],
        "catch_all_timeout_minutes": LONG,
        "ack_timeout_minutes": LONG,
    }
    r = await http.put(f"{crisis}/crisis/protocol", json=protocol, headers=admin)
    assert r.status_code == 204, r.text


async def raise_alert(http: httpx.AsyncClient, crisis: str, member: dict[str, str]) -> tuple[str, str]:
    r = await http.post(f"{crisis}/crisis/alerts", json={"severity": "high"}, headers=member)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["traceresponse"].split("-")[1]


@pytest.fixture(scope="module")
async def flows(network: Stack, place: Place, tokens: Tokens) -> Flows:
    """In A: three members reach out and the responder acknowledges two cases, one mentor request is
    matched and one member attends a meeting. In B: one member reaches out."""
    done = Flows(started=datetime.now(UTC))
    crisis, mentoring, meetings = network.url("crisis"), network.url("mentoring"), network.url("meetings")
    a = place.a
    async with httpx.AsyncClient(timeout=10.0) as http:
        for org in (place.a, place.b):
            await set_up_crisis(http, crisis, tokens, org)
        raised_at: list[tuple[float, float]] = []
        for n in range(3):
            before = time.time()
            case_id, trace_id = await raise_alert(http, crisis, tokens(f"member-{n}", a, Role.MEMBER))
            raised_at.append((before, time.time()))
            done.cases.append(case_id)
            done.traces.append(trace_id)
        done.b_case, _ = await raise_alert(http, crisis, tokens("member-b", place.b, Role.MEMBER))
        responder = tokens(f"responder-{a}", a, Role.RESPONDER)
        for case_id, (raise_sent, raise_answered) in zip(done.cases[:2], raised_at, strict=False):
            ack_sent = time.time()
            r = await http.post(f"{crisis}/crisis/cases/{case_id}/acknowledge", headers=responder)
            ack_answered = time.time()
            assert r.status_code == 200, r.text
            # The case opened while its alert was answered, and was acknowledged while the ack was.
            done.waits_ms.append(((ack_sent - raise_answered) * 1000, (ack_answered - raise_sent) * 1000))

        coordinator = tokens(f"coord-{a}", a, Role.COORDINATOR)
        r = await http.put(f"{mentoring}/mentors/mara", json={"capacity": 2}, headers=coordinator)
        assert r.status_code == 200, r.text
        r = await http.post(f"{mentoring}/mentoring/requests", json={}, headers=tokens("sol", a, Role.MEMBER))
        assert r.status_code == 201, r.text
        match_id = r.json()["proposal"]["match_id"]
        mara = tokens("mara", a, Role.MENTOR)
        r = await http.post(f"{mentoring}/mentoring/matches/{match_id}/accept", headers=mara)
        assert r.status_code == 200 and r.json()["status"] == "active", r.text

        started = datetime.now(UTC) - timedelta(minutes=5)
        listing = {
            "name": "Dashboards Harbor Group",
            "day": (started.weekday() + 1) % 7,  # Meeting Guide days count from Sunday = 0
            "time": started.strftime("%H:%M"),
            "end_time": (started + timedelta(hours=1)).strftime("%H:%M"),
            "timezone": "UTC",
            "formatted_address": "1 Harbor St, Eastlake",
        }
        r = await http.post(
            f"{meetings}/meetings", json=listing, headers=tokens(f"admin-{a}", a, Role.ORG_ADMIN)
        )
        assert r.status_code == 201, r.text
        done.meeting_id = r.json()["id"]
        occurrence = f"{meetings}/meetings/{done.meeting_id}/occurrences/{started.date().isoformat()}"
        r = await http.get(f"{occurrence}/code", headers=coordinator)
        assert r.status_code == 200, r.text
        check_in = {"meeting_id": done.meeting_id, "code": r.json()["code"]}
        r = await http.post(
            f"{meetings}/attendance/check-ins", json=check_in, headers=tokens("sol", a, Role.MEMBER)
        )
        assert r.status_code == 201, r.text
    return done


def admin_of(tokens: Tokens, org: str) -> dict[str, str]:
    return tokens(f"admin-{org}", org, Role.ORG_ADMIN)


def network_admin(tokens: Tokens, place: Place) -> dict[str, str]:
    return tokens("net-admin", place.a, Role.NETWORK_ADMIN, regions=(place.region,))


async def board(
    http: httpx.AsyncClient, network: Stack, flows: Flows, name: str, headers: dict[str, str]
) -> dict[str, Any]:
    """A board over the module's window, by minute: from the minute before its flows began."""
    start = (flows.started - timedelta(seconds=1)).isoformat()
    r = await http.get(
        f"{network.url('insights')}/boards/{name}", params={"start": start, "step": "minute"}, headers=headers
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def values(found: dict[str, Any], figure: str) -> dict[str, Any]:
    (shown,) = [f for f in found["figures"] if f["id"] == figure]
    return dict(shown["values"])


def columns(found: dict[str, Any]) -> list[str]:
    return [c["id"] for c in found["columns"]]


def at_least(least: dict[tuple[str, str], int]) -> Callable[[dict[str, Any]], bool]:
    """Each (figure, column) has counted at least so many."""

    def ready(found: dict[str, Any]) -> bool:
        for (figure, column), n in least.items():
            value = values(found, figure).get(column)
            if value is None or value.get("total", value.get("count", 0)) < n:
                return False
        return True

    return ready


async def board_once(
    http: httpx.AsyncClient,
    network: Stack,
    flows: Flows,
    name: str,
    headers: dict[str, str],
    ready: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """The board once `ready` says the flows' figures are in: spans arrive in batches from each
    service, and the rollups are written every half second."""
    last: dict[str, Any] = {}

    async def probe() -> dict[str, Any] | None:
        last.update(await board(http, network, flows, name, headers))
        return last if ready(last) else None

    try:
        return await eventually(probe, within=20)
    except AssertionError as exc:
        shown = {f["id"]: f["values"] for f in last.get("figures", ())}
        raise AssertionError(f"{name} board not ready: columns {columns(last)}, figures {shown}") from exc


async def test_the_crisis_board_counts_what_the_flows_did_for_each_admin_and_no_one_else(
    network: Stack, place: Place, flows: Flows, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    a, b, region = place.a, place.b, f"region:{place.region}"
    found = await board_once(
        http,
        network,
        flows,
        "crisis",
        admin_of(tokens, a),
        at_least({("cases_opened", a): 3, ("time_to_acknowledge", a): 2}),
    )
    assert columns(found) == [a]
    assert values(found, "cases_opened")[a]["total"] == 3
    assert values(found, "cases_opened")[a]["by"] == {"1": 3}  # a high alert starts at level 1
    ack = values(found, "time_to_acknowledge")[a]
    assert ack["count"] == 2
    # DDSketch's quantiles are lower quantiles: of two waits, p50 is the shorter one's (within 1 %).
    low = min(lo for lo, _ in flows.waits_ms) * (1 - SKETCH_ERROR) - SKEW_MS
    shorter_high = min(hi for _, hi in flows.waits_ms) * (1 + SKETCH_ERROR) + SKEW_MS
    longer_high = max(hi for _, hi in flows.waits_ms) * (1 + SKETCH_ERROR) + SKEW_MS
    assert low <= ack["p50"] <= shorter_high, (ack, flows.waits_ms)
    assert low <= ack["p99"] <= longer_high, (ack, flows.waits_ms)
    assert values(found, "caring_contacts")[a] == {"total": 0, "part": 0, "series": [0] * len(found["times"])}

    # The network admin of the region: each organization, and the region as a whole.
    regional = await board_once(
        http, network, flows, "crisis", network_admin(tokens, place), at_least({("cases_opened", b): 1})
    )
    assert columns(regional) == [a, b, region]
    opened = values(regional, "cases_opened")
    assert (opened[a]["total"], opened[b]["total"], opened[region]["total"]) == (3, 1, 4)
    assert values(regional, "time_to_acknowledge")[region]["count"] == 2

    # B's admin: B's one case, nothing of A's.
    own = await board(http, network, flows, "crisis", admin_of(tokens, b))
    assert columns(own) == [b]
    assert values(own, "cases_opened")[b]["total"] == 1
    assert values(own, "time_to_acknowledge")[b]["count"] == 0

    # The traces behind the figures: A's admin finds the first alert's by its case and opens it; B's
    # admin, asking the same, gets nothing.
    insights = network.url("insights")

    async def a_finds() -> list[dict[str, Any]]:
        r = await http.get(
            f"{insights}/traces", params={"case_id": flows.cases[0]}, headers=admin_of(tokens, a)
        )
        assert r.status_code == 200, r.text
        return list(r.json())

    hits = await eventually(a_finds)
    assert flows.traces[0] in {h["trace_id"] for h in hits}
    r = await http.get(f"{insights}/traces/{flows.traces[0]}", headers=admin_of(tokens, a))
    assert r.status_code == 200 and "crisis" in r.json()["services"], r.text
    r = await http.get(f"{insights}/traces", params={"case_id": flows.cases[0]}, headers=admin_of(tokens, b))
    assert (r.status_code, r.json()) == (200, [])
    r = await http.get(
        f"{insights}/traces", params={"request_id": flows.traces[0]}, headers=admin_of(tokens, b)
    )
    assert (r.status_code, r.json()) == (200, [])
    r = await http.get(f"{insights}/traces/{flows.traces[0]}", headers=admin_of(tokens, b))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_the_services_board_and_the_people_board_show_the_flows_operations_request_and_attendance(
    network: Stack, place: Place, flows: Flows, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    a = place.a

    def alerts_of(found: dict[str, Any]) -> dict[str, Any]:
        rows = (values(found, "operations")[a] or {"rows": []})["rows"]
        alerts = ("crisis", "POST /crisis/alerts")
        return next((r for r in rows if (r["service"], r["operation"]) == alerts), {"count": 0})

    def arrows_of(found: dict[str, Any]) -> set[tuple[str, str]]:
        return {(e["from"], e["to"]) for e in (values(found, "service_map")[a] or {"edges": []})["edges"]}

    services = await board_once(
        http,
        network,
        flows,
        "services",
        admin_of(tokens, a),
        lambda f: alerts_of(f)["count"] >= 3 and ("crisis", "notifications") in arrows_of(f),
    )
    assert columns(services) == [a]
    assert (alerts_of(services)["count"], alerts_of(services)["errors"]) == (3, 0)
    crisis_operations = {
        r["operation"] for r in values(services, "operations")[a]["rows"] if r["service"] == "crisis"
    }
    assert {"POST /crisis/cases/{case_id}/acknowledge", "PUT /crisis/protocol"} <= crisis_operations
    regional = await board(http, network, flows, "services", network_admin(tokens, place))
    assert columns(regional) == [a, place.b, f"region:{place.region}", "network:"]

    people = await board_once(
        http,
        network,
        flows,
        "people",
        admin_of(tokens, a),
        at_least({("requests", a): 1, ("time_to_match", a): 1, ("attendance", a): 1}),
    )
    assert values(people, "requests")[a]["total"] == 1
    assert values(people, "time_to_match")[a]["count"] == 1
    assert values(people, "waiting")[a] == {"total": 0}  # the one request was matched
    assert values(people, "attendance")[a]["by"] == {flows.meeting_id: 1}


# --- the page ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        await browser.close()


async def open_dashboards(browser: Browser, network: Stack, headers: dict[str, str]) -> tuple[Page, Any]:
    """A tab of its own (the token lives in the tab), signed in; returns the page and its first board."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(RECORD_REFUSALS)
    page = await context.new_page()
    await page.goto(f"{network.url('insights')}/dashboards")
    await page.get_by_label("Access token").fill(headers["Authorization"].removeprefix("Bearer "))
    async with page.expect_response(lambda r: "/boards/crisis" in r.url) as answer:
        await page.get_by_role("button", name="Sign in").click()
    return page, await (await answer.value).json()


def cell(page: Page, figure: str, column: str) -> Any:
    return page.locator(f'.cell[data-figure="{figure}"][data-column="{column}"] .big')


async def test_each_admin_sees_their_own_dashboard_fill_and_opens_a_trace_in_the_browser(
    network: Stack, place: Place, flows: Flows, tokens: Tokens, http: httpx.AsyncClient, browser: Browser
) -> None:
    a, b = place.a, place.b
    # The figures are in before the pages open (the JSON test waits for the same).
    await board_once(
        http,
        network,
        flows,
        "crisis",
        network_admin(tokens, place),
        at_least({("cases_opened", a): 3, ("cases_opened", b): 1}),
    )
    SHOTS.mkdir(parents=True, exist_ok=True)

    page, shown = await open_dashboards(browser, network, admin_of(tokens, a))
    opened = next(f for f in shown["figures"] if f["id"] == "cases_opened")["values"][a]["total"]
    assert opened == 3  # the page's window (the last 24 hours) holds only this module's cases of A
    await expect(cell(page, "cases_opened", a)).to_have_text(str(opened))
    await expect(cell(page, "time_to_acknowledge", a)).to_contain_text("median")
    await expect(page.locator("#columns li")).to_have_text([place.names[a]])
    await expect(page.locator('.cell[data-figure="cases_opened"] canvas')).to_have_count(1)
    await page.screenshot(path=str(SHOTS / "01-org-admin-crisis.png"), full_page=True)

    await page.get_by_role("tab", name="Services").click()
    await expect(page.locator(f'.cell[data-figure="service_map"][data-column="{a}"] svg')).to_be_visible()
    await expect(page.locator("table.operations")).to_contain_text("POST /crisis/alerts")
    await page.screenshot(path=str(SHOTS / "02-org-admin-services.png"), full_page=True)
    await page.get_by_role("tab", name="Mentoring & meetings").click()
    await expect(cell(page, "requests", a)).to_have_text("1")
    await expect(page.locator(f'.cell[data-figure="attendance"][data-column="{a}"]')).to_contain_text(
        flows.meeting_id
    )

    # The trace of the first alert, found by its case, as a waterfall.
    await page.get_by_role("tab", name="Traces").click()
    await page.get_by_label("Case id").fill(flows.cases[0])
    await page.get_by_role("button", name="Search traces").click()
    await page.locator(f'button[data-trace="{flows.traces[0]}"]').click()
    await expect(page.locator("#waterfall-title")).to_have_text(f"Trace {flows.traces[0]}")
    spans = page.locator("#waterfall > li")
    await expect(spans.first).to_be_visible()
    assert await spans.count() >= 2
    await expect(page.locator('#waterfall > li[data-service="crisis"]').first).to_be_visible()
    await expect(page.locator("#waterfall")).to_contain_text("Case opened")
    await page.screenshot(path=str(SHOTS / "03-org-admin-trace.png"), full_page=True)
    assert await page.evaluate("window.__refused") == []
    await page.context.close()

    # The network admin: both organizations side by side, and the region.
    page, _ = await open_dashboards(browser, network, network_admin(tokens, place))
    await expect(page.locator("#columns li")).to_have_text(
        [place.names[a], place.names[b], f"{place.names[place.region]} (region)"]
    )
    await expect(cell(page, "cases_opened", a)).to_have_text("3")
    await expect(cell(page, "cases_opened", b)).to_have_text("1")
    await expect(cell(page, "cases_opened", f"region:{place.region}")).to_have_text("4")
    await page.screenshot(path=str(SHOTS / "04-network-admin-crisis.png"), full_page=True)
    await page.context.close()

    # B's admin: B's column only, with B's one case; A's name and A's trace appear nowhere.
    page, _ = await open_dashboards(browser, network, admin_of(tokens, b))
    await expect(cell(page, "cases_opened", b)).to_have_text("1")
    await expect(page.locator("#columns li")).to_have_text([place.names[b]])
    await expect(page.get_by_text(place.names[a])).to_have_count(0)
    await expect(page.locator(f'[data-column="{a}"]')).to_have_count(0)
    await page.get_by_role("tab", name="Traces").click()
    await page.get_by_label("Case id").fill(flows.cases[0])
    await page.get_by_role("button", name="Search traces").click()
    await expect(page.locator("#trace-status")).to_have_text("No trace of yours matches in this time range.")
    await page.screenshot(path=str(SHOTS / "05-other-org-admin.png"), full_page=True)
    # A window the API refuses: its problem is said in words, not shown as JSON.
    await page.get_by_role("tab", name="Crisis").click()
    await page.get_by_label("Time range", exact=True).first.select_option(label="Last 7 days")
    await page.get_by_label("Step", exact=True).select_option(label="By minute")
    await expect(page.locator("#problem")).to_have_text(
        "These figures could not be read: a window by minute may cover at most 1 days."
    )
    assert await page.evaluate("window.__refused") == []
    await page.context.close()
