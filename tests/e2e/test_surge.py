"""A surge of alerts: every one accepted at once with its case id and the guidance, none lost, the
high and imminent ones opened before the routine ones queued ahead of them, and crisis stopped in the
middle of one (a rolling deploy) with a console open exits in seconds, ends the console's stream
cleanly at once, and opens every alert after its restart."""

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import nats
import pytest

from contracts.crisis import CrisisAlertReceived, CrisisAlertReceivedData, CrisisUrgentAlertReceived
from contracts.ids import new_id
from deploy.local.stack import Stack, free_port
from deploy.local.topology import SERVICES
from services.crisis.model import EMERGENCY_GUIDANCE, IMMINENT_GUIDANCE
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.fault.figures import read_stream
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

ORG = "surge-org"
STOPPED_ORG = "surge-stopped"  # the stopped surge's cases, apart from the others' in the listing
NETWORK = {
    "regions": [{"id": "surge", "name": "Surge"}],
    "organizations": [
        {"id": ORG, "name": "Surge Organization", "region": "surge"},
        {"id": STOPPED_ORG, "name": "Stopped Surge Organization", "region": "surge"},
    ],
}
# A stopping service finishes what it started within seconds (its handlers, its timers firing, its
# last spans); before, crisis took 13-18 s here, past the orchestrator's grace, and was killed.
STOPS_WITHIN = 6.0


@pytest.fixture(scope="module")
def surge_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """NATS, the store and crisis alone, accepting every alert into JetStream (as in a surge); no
    insights, so crisis's traces have nowhere to go, as when a collector is down."""
    data = tmp_path_factory.mktemp("surge")
    network_file = data / "network.json"
    network_file.write_text(json.dumps(NETWORK))
    stack = Stack(
        data_dir=data,
        network_file=network_file,
        nats_port=free_port(),
        docstore_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={"RN_ALERTS_OPENED_AT_ONCE": "0"},
    )
    try:
        stack.start_nats()
        stack.start_docstore()
        asyncio.run(stack.provision())
        stack.start_service("crisis")
        yield stack
    finally:
        stack.stop()


async def backlog(stack: Stack, org: str, severities: list[str]) -> list[str]:
    """Alerts accepted into JetStream as crisis does in a surge, one per severity; their case ids."""
    nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
    js = nc.jetstream()
    ids = []
    for n, severity in enumerate(severities):
        kind = CrisisUrgentAlertReceived if severity in ("high", "imminent") else CrisisAlertReceived
        member = f"{org}-backlog-{n}"
        data = CrisisAlertReceivedData(
            case_id=new_id(), member_id=member, severity=severity, reported_by=member
        )
        event = kind.create(source="crisis", org=org, subject=data.case_id, data=data)
        await js.publish(
            event.nats_subject(), event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
        )
        ids.append(data.case_id)
    await nc.close()
    return ids


async def all_opened(http: httpx.AsyncClient, url: str, staff: dict[str, str], ids: list[str]) -> None:
    """Once every case is open (a case that never opens fails the test)."""

    async def all_open() -> bool:
        r = await http.get(f"{url}/crisis/cases", params={"limit": 500}, headers=staff)
        return set(ids) <= {c["id"] for c in r.json()}

    await eventually(all_open, within=60, interval=0.5)


async def opened(
    http: httpx.AsyncClient, url: str, staff: dict[str, str], ids: list[str]
) -> dict[str, datetime]:
    """When each case was opened (its "raised" line; `opened_at` says when the alert was received),
    once every one has been."""
    await all_opened(http, url, staff, ids)
    raised = {}
    for case_id in ids:
        timeline = (await http.get(f"{url}/crisis/cases/{case_id}", headers=staff)).json()["timeline"]
        raised[case_id] = datetime.fromisoformat(next(t["at"] for t in timeline if t["what"] == "raised"))
    return raised


async def test_in_a_surge_every_alert_is_accepted_at_once_and_opened(surge_stack: Stack) -> None:
    stack, tokens = surge_stack, Tokens(surge_stack)
    url = stack.url("crisis")
    admin = tokens("surge-admin", ORG, Role.ORG_ADMIN)
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.put(f"{url}/crisis/staff/surge-coord", json={"roles": ["coordinator"]}, headers=admin)
        assert r.status_code == 204, r.text
        severities = ["low", "moderate", "high", "imminent"] * 15
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{url}/crisis/alerts",
                    json={"severity": severity},
                    headers=tokens(f"surge-m{n}", ORG, Role.MEMBER),
                )
                for n, severity in enumerate(severities)
            )
        )
        assert {a.status_code for a in answers} == {202}
        bodies = [a.json() for a in answers]
        assert {b["state"] for b in bodies} == {"received"}
        # The guidance is in the answer itself, before any case exists.
        assert [b["guidance"] for b in bodies] == [
            IMMINENT_GUIDANCE if s == "imminent" else EMERGENCY_GUIDANCE for s in severities
        ]
        coordinator = tokens("surge-coord", ORG, Role.COORDINATOR)
        ids = [b["id"] for b in bodies]
        await opened(http, url, coordinator, ids)
        for case_id, severity in zip(ids, severities, strict=True):
            r = await http.get(f"{url}/crisis/cases/{case_id}", headers=coordinator)
            assert (r.status_code, r.json()["severity"], r.json()["state"]) == (200, severity, "triggered")
            assert r.json()["notified"] == ["surge-coord"]  # escalated: the default protocol's catch-all

        # A second alert of a person whose case is open joins that case; its answer's id leads there.
        member = tokens("surge-m0", ORG, Role.MEMBER)
        again = await http.post(f"{url}/crisis/alerts", json={"severity": "imminent"}, headers=member)
        assert again.status_code == 202

        async def joined() -> dict[str, object]:
            r = await http.get(f"{url}/crisis/cases/{again.json()['id']}", headers=member)
            return r.json() if r.status_code == 200 else {}  # type: ignore[no-any-return]

        case = await eventually(joined, within=30)
        assert (case["id"], case["severity"]) == (ids[0], "imminent")


async def test_urgent_alerts_open_before_the_routine_ones_queued_ahead_of_them(surge_stack: Stack) -> None:
    stack, tokens = surge_stack, Tokens(surge_stack)
    url = stack.url("crisis")
    async with httpx.AsyncClient(timeout=30) as http:
        admin = tokens("surge-admin", ORG, Role.ORG_ADMIN)
        r = await http.put(f"{url}/crisis/staff/surge-coord", json={"roles": ["coordinator"]}, headers=admin)
        assert r.status_code == 204, r.text
        # A backlog built while crisis is down: 150 routine alerts, then 10 urgent ones behind them.
        stack.kill("crisis")
        queued = await backlog(stack, ORG, ["low"] * 150 + ["imminent"] * 10)
        routine, urgent = queued[:150], queued[150:]
        stack.start_service("crisis")

        coordinator = tokens("surge-coord", ORG, Role.COORDINATOR)
        at = await opened(http, url, coordinator, routine + urgent)
        routine_order = sorted(at[c] for c in routine)
        # Every urgent case opened while most of the routine backlog still waited.
        assert max(at[c] for c in urgent) < routine_order[len(routine_order) // 4]


async def test_crisis_stopped_in_a_surge_exits_within_seconds_and_opens_every_alert_after_its_restart(
    surge_stack: Stack,
) -> None:
    stack, tokens = surge_stack, Tokens(surge_stack)
    url = stack.url("crisis")
    async with httpx.AsyncClient(timeout=30) as http:
        admin = tokens("stopped-admin", STOPPED_ORG, Role.ORG_ADMIN)
        r = await http.put(
            f"{url}/crisis/staff/stopped-coord", json={"roles": ["coordinator"]}, headers=admin
        )
        assert r.status_code == 204, r.text
        coordinator = tokens("stopped-coord", STOPPED_ORG, Role.COORDINATOR)
        ids = await backlog(stack, STOPPED_ORG, ["low", "moderate", "high", "imminent"] * 50)

        async def some_open() -> bool:
            r = await http.get(f"{url}/crisis/cases", params={"limit": 500}, headers=coordinator)
            return len(r.json()) >= 20

        await eventually(some_open, within=30, interval=0.05)
        # A responder's console is open: its stream must end, cleanly, so the page reconnects elsewhere.
        console_open = asyncio.Event()

        async def read_console_to_its_end() -> float:
            async with http.stream("GET", f"{url}/crisis/console/events", headers=coordinator) as r:
                assert r.status_code == 200
                async for _ in r.aiter_lines():
                    console_open.set()
            return time.monotonic()  # an end cut midway raises instead (an incomplete chunked read)

        console = asyncio.create_task(read_console_to_its_end())
        await asyncio.wait_for(console_open.wait(), 10)
        # SIGTERM, as a rolling deploy stops a process, while its consumers and timers are busy.
        started = time.monotonic()
        await asyncio.to_thread(stack.kill, "crisis", signal.SIGTERM)
        stopped_after, restarted_at = time.monotonic() - started, datetime.now(UTC)
        console_ended_after = await console - started
        stack.start_service("crisis")
        await all_opened(http, url, coordinator, ids)

    assert stopped_after < STOPS_WITHIN
    assert console_ended_after < 1  # not the 10 s uvicorn waits for a response before cutting it
    nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
    try:
        stream = await read_stream(nc.jetstream(), "crisis")
    finally:
        await nc.close()
    raised = [e for e in stream if e["org"] == STOPPED_ORG and e["type"] == "crisis.raised.v1"]
    assert Counter(e["data"]["case_id"] for e in raised) == Counter(ids)  # once each: none lost, none twice
    # The stop came in the middle of the surge: what the stopped process had not opened, the new one did.
    assert max(datetime.fromisoformat(e["time"]) for e in raised) > restarted_at
