"""Escalation on real NATS and the real document store: timers, acknowledgements, kill -9, replicas."""

import asyncio
import signal
from typing import Any

import httpx
from nats.aio.client import Client as NatsClient

from contracts.ids import new_id
from deploy.local.stack import Stack, free_port
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually
from tests.services.crisis.conftest import Events, raise_alert


async def test_nobody_acknowledging_escalates_through_two_levels_to_the_catch_all(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, events: Events
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    assert (case["level"], case["notified"]) == (1, ["esc-1"])

    await eventually(events.at_least(3, case["id"]), within=15)
    assert events.levels(case["id"]) == [(1, 1), (2, 1), (3, 1)]
    assert "esc-coord" in events.of(case["id"])[-1]["data"]["responder_ids"]  # every coordinator of org-a
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    detail = (await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)).json()
    escalated = [line for line in detail["timeline"] if line["what"] == "escalated"]
    assert [line["level"] for line in escalated] == [1, 2, 3]


async def test_acknowledging_stops_escalation_until_the_acknowledgement_times_out(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, events: Events
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    r = await http.post(f"{fast_protocol}/crisis/cases/{case['id']}/acknowledge", headers=responder)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged", r.text

    # Level 2 was due 3 s after the alert; the acknowledgement held it. After the acknowledgement's own
    # 3 s run out unresolved, the case is triggered again at the level it was on.
    await eventually(events.at_least(2, case["id"]), within=15)
    assert events.levels(case["id"])[:2] == [(1, 1), (1, 1)]
    assert len(events.of(case["id"], "crisis.acknowledged.v1")) == 1

    # Resolution stops everything and schedules the caring contact.
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    partner = await http.put(
        f"{fast_protocol}/crisis/partners/clinic-7", json={"name": "Clinic 7"}, headers=admin
    )
    assert partner.status_code == 204, partner.text
    resolution = {"outcome": "referred", "referral": "warm_handoff", "partner_id": "clinic-7"}
    r = await http.post(
        f"{fast_protocol}/crisis/cases/{case['id']}/resolve", json=resolution, headers=responder
    )
    assert r.status_code == 200 and r.json()["state"] == "resolved", r.text
    await eventually(events.at_least(1, case["id"], "crisis.follow_up_scheduled.v1"))
    (follow_up,) = events.of(case["id"], "crisis.follow_up_scheduled.v1")
    assert follow_up["data"]["responder_id"] == "esc-1"
    settled = len(events.of(case["id"]))
    await asyncio.sleep(4)
    assert len(events.of(case["id"])) == settled
    again = await http.post(f"{fast_protocol}/crisis/cases/{case['id']}/acknowledge", headers=responder)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


async def test_a_deadline_passed_while_the_service_was_killed_fires_once_after_restart(
    fast_protocol: str, network: Stack, tokens: Tokens, http: httpx.AsyncClient, events: Events
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    network.kill("crisis", signal.SIGKILL)
    await asyncio.sleep(4)  # level 2 falls due while nothing runs
    assert events.levels(case["id"]) == [(1, 1)]
    network.start_service("crisis")

    await eventually(events.at_least(3, case["id"]), within=15)
    await asyncio.sleep(1)
    assert events.levels(case["id"]) == [(1, 1), (2, 1), (3, 1)]


async def test_two_replicas_never_escalate_the_same_step_twice(
    fast_protocol: str, network: Stack, tokens: Tokens, http: httpx.AsyncClient, events: Events
) -> None:
    replica = network.start_replica("crisis", free_port())
    try:
        cases = [await raise_alert(http, fast_protocol, tokens) for _ in range(6)]

        for case in cases:
            await eventually(events.at_least(3, case["id"]), within=20)
        await asyncio.sleep(1)
        for case in cases:
            assert events.levels(case["id"]) == [(1, 1), (2, 1), (3, 1)]
    finally:
        network.kill(replica, signal.SIGTERM)


async def test_repeated_alerts_for_one_person_merge_into_the_open_case(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    member = tokens(f"m-{new_id()}", "org-a", Role.MEMBER)
    url = f"{fast_protocol}/crisis/alerts"
    first = await http.post(url, json={"severity": "moderate"}, headers=member)
    results = await asyncio.gather(
        *(http.post(url, json={"severity": "imminent"}, headers=member) for _ in range(4))
    )
    assert first.status_code == 201
    assert {r.status_code for r in results} == {200}
    assert {r.json()["id"] for r in results} == {first.json()["id"]}
    assert results[-1].json()["severity"] == "imminent"
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    detail = (await http.get(f"{fast_protocol}/crisis/cases/{first.json()['id']}", headers=responder)).json()
    lines = [line["what"] for line in detail["timeline"]]
    assert lines.count("alert_merged") == 4
    # Imminent applies at once: its protocol starts at level 2, escalated in the same write.
    raised = lines.index("severity_raised")
    assert lines.count("severity_raised") == 1 and lines[raised + 1] == "escalated"
    assert detail["timeline"][raised + 1]["level"] == 2
    assert "emergency number" in results[-1].json()["guidance"]


async def test_a_crisis_alert_requested_by_mentoring_opens_a_case(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient, events: Events
) -> None:
    from contracts.mentoring import CrisisAlertRequested, CrisisAlertRequestedData

    request = CrisisAlertRequested.create(
        source="mentoring",
        org="org-a",
        subject="flag-1",
        data=CrisisAlertRequestedData(
            member_id=f"mentee-{new_id()}", requested_by="mentor-9", reason="risk_flag"
        ),
    )
    js = admin_nc.jetstream()
    await js.publish(
        request.nats_subject(), request.model_dump_json().encode(), headers={"Nats-Msg-Id": request.id}
    )

    async def raised() -> list[dict[str, Any]]:
        return [
            e
            for _, e in events.seen
            if e["type"] == "crisis.raised.v1" and e["data"]["member_id"] == request.data.member_id
        ]

    (case,) = await eventually(raised)
    assert case["data"]["channel"] == "service"
    assert events.levels(case["data"]["case_id"])[0] == (1, 1)
