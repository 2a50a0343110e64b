"""What a responder does with a case beyond acknowledging it, and what a coordinator manages: the
safety plan, the resolution's referral, the caring contact, partners, staff and rosters."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually
from tests.services.crisis.conftest import Events, raise_alert


@pytest.fixture
async def cases(network: Stack) -> AsyncIterator[Any]:
    """The crisis service's cases as stored, to check that free text is encrypted at rest."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(network.database_url)
    yield client.rn_crisis.cases
    await client.close()


PLAN = {
    "warning_signs": ["stops answering the phone"],
    "coping_strategies": ["a walk by the lake"],
    "distractions": ["the Tuesday meeting"],
    "help_contacts": ["her sister"],
    "professionals": ["988 Suicide & Crisis Lifeline - call or text 988"],
    "environment_safety": ["medication kept by her sister"],
}


async def test_the_safety_plan_is_stored_encrypted_read_back_and_every_read_audited(
    network: Stack, fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, cases: Any
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    url = f"{fast_protocol}/crisis/cases/{case['id']}/safety-plan"
    empty = await http.get(url, headers=responder)
    assert (
        empty.status_code == 200
        and empty.json()["warning_signs"] == []
        and empty.json()["updated_at"] is None
    )
    saved = await http.put(url, json=PLAN, headers=responder)
    assert saved.status_code == 200, saved.text
    read = (await http.get(url, headers=responder)).json()
    assert {k: read[k] for k in PLAN} == PLAN and read["updated_by"] == "esc-1"

    stored = await cases.find_one({"_id": case["id"]})
    assert "her sister" not in str(stored) and stored["safety_plan"]["sealed"]
    timeline = (await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)).json()[
        "timeline"
    ]
    assert any(line["what"] == "safety_plan_updated" and line["by"] == "esc-1" for line in timeline)
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    audit = (await http.get(f"{fast_protocol}/crisis/cases/{case['id']}/audit", headers=admin)).json()
    assert sum(1 for a in audit if a["reader"] == "esc-1") >= 3  # two plan reads and the case read

    too_long = await http.put(url, json={**PLAN, "warning_signs": ["x" * 501]}, headers=responder)
    assert too_long.status_code == 422
    other_org = tokens("b-1", "org-b", Role.RESPONDER)
    assert (await http.get(url, headers=other_org)).status_code == 404


async def test_a_resolution_refers_to_a_named_partner_or_says_what_other_referral_it_was(
    network: Stack, fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, cases: Any
) -> None:
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    coordinator = tokens("esc-coord", "org-a", Role.COORDINATOR)
    r = await http.put(
        f"{fast_protocol}/crisis/partners/lakeshore-clinic",
        json={"name": "Lakeshore Clinic"},
        headers=coordinator,
    )
    assert r.status_code == 204, r.text
    partners = (await http.get(f"{fast_protocol}/crisis/partners", headers=responder)).json()
    assert {"partner_id": "lakeshore-clinic", "name": "Lakeshore Clinic"} in partners

    case = await raise_alert(http, fast_protocol, tokens)
    of_the_case = (
        await http.get(f"{fast_protocol}/crisis/cases/{case['id']}/partners", headers=responder)
    ).json()
    assert of_the_case == partners
    other_org = tokens("b-1", "org-b", Role.RESPONDER)
    assert (
        await http.get(f"{fast_protocol}/crisis/cases/{case['id']}/partners", headers=other_org)
    ).status_code == 404
    resolve = f"{fast_protocol}/crisis/cases/{case['id']}/resolve"
    unknown = {"outcome": "referred", "referral": "warm_handoff", "partner_id": "nowhere"}
    assert (await http.post(resolve, json=unknown, headers=responder)).status_code == 422
    unsaid = {"outcome": "referred", "referral": "other"}
    assert (await http.post(resolve, json=unsaid, headers=responder)).status_code == 422
    other = {"outcome": "referred", "referral": "other", "referral_other": "county mobile crisis team"}
    assert (await http.post(resolve, json=other, headers=responder)).status_code == 200
    detail = (await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)).json()
    assert (detail["referral"], detail["referral_other"]) == ("other", "county mobile crisis team")
    stored = await cases.find_one({"_id": case["id"]})
    assert "county mobile" not in str(stored)


async def test_the_caring_contact_stays_on_the_resolvers_list_until_they_mark_it_done(
    network: Stack, fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, events: Events
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    resolution = {"outcome": "safe", "referral": "peer_follow_up"}
    r = await http.post(
        f"{fast_protocol}/crisis/cases/{case['id']}/resolve", json=resolution, headers=responder
    )
    assert r.status_code == 200, r.text
    owed = (await http.get(f"{fast_protocol}/crisis/follow-ups", headers=responder)).json()
    (mine,) = [f for f in owed if f["case_id"] == case["id"]]
    assert mine["responder_id"] == "esc-1" and not mine["overdue"]

    done = f"{fast_protocol}/crisis/cases/{case['id']}/follow-up"
    someone_else = tokens("esc-2", "org-a", Role.RESPONDER)
    assert (await http.post(done, headers=someone_else)).status_code == 403
    assert (await http.post(done, headers=responder)).status_code == 204
    assert (await http.post(done, headers=responder)).status_code == 204  # twice: still once
    owed = (await http.get(f"{fast_protocol}/crisis/follow-ups", headers=responder)).json()
    assert case["id"] not in [f["case_id"] for f in owed]
    await eventually(events.at_least(1, case["id"], "crisis.follow_up_completed.v1"))
    (completed,) = events.of(case["id"], "crisis.follow_up_completed.v1")
    assert completed["data"]["on_time"] is True and completed["data"]["responder_id"] == "esc-1"
    unresolved = await raise_alert(http, fast_protocol, tokens)
    nothing_owed = await http.post(
        f"{fast_protocol}/crisis/cases/{unresolved['id']}/follow-up", headers=responder
    )
    assert nothing_owed.status_code == 409


async def test_a_deactivated_responder_is_never_targeted_again_and_notifications_are_told(
    network: Stack, fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient, events: Events
) -> None:
    coordinator = tokens("esc-coord", "org-a", Role.COORDINATOR)
    responder = tokens("esc-1", "org-a", Role.RESPONDER, Role.MEMBER)
    async with http.stream("GET", f"{fast_protocol}/crisis/console/events", headers=responder) as stream:
        assert stream.status_code == 200
        r = await http.delete(f"{fast_protocol}/crisis/staff/esc-1", headers=coordinator)
        assert r.status_code == 204, r.text
        # Their open console stream ends with their place on the staff, not with their token.
        await asyncio.wait_for(stream.aread(), timeout=10)
    staff = (await http.get(f"{fast_protocol}/crisis/staff", headers=coordinator)).json()
    assert {"responder_id": "esc-1", "roles": ["responder"], "active": False} in staff
    assert (await http.delete(f"{fast_protocol}/crisis/staff/nobody", headers=coordinator)).status_code == 404

    case = await raise_alert(http, fast_protocol, tokens)
    assert case["notified"] == ["esc-2"] and case["level"] == 2  # level 1 named only esc-1: skipped

    async def told() -> list[dict[str, Any]]:
        return [e for _, e in events.seen if e["type"] == "crisis.responder_deactivated.v1"]

    (deactivated,) = await eventually(told)
    assert deactivated["data"] == {"responder_id": "esc-1", "deactivated_by": "esc-coord"}
    # Whatever their token still says, they work no more cases and read none; as a member they still
    # reach out, and read their own case.
    assert (await http.get(f"{fast_protocol}/crisis/cases", headers=responder)).status_code == 403
    assert (
        await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)
    ).status_code == 404
    own = await http.post(f"{fast_protocol}/crisis/alerts", json={"severity": "low"}, headers=responder)
    assert own.status_code == 201, own.text
    assert (
        await http.get(f"{fast_protocol}/crisis/cases/{own.json()['id']}", headers=responder)
    ).status_code == 200


async def test_a_coordinator_sees_who_is_on_call_now_and_next_and_changes_it(
    network: Stack, fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    coordinator = tokens("esc-coord", "org-a", Role.COORDINATOR)
    roster = {
        "responder_ids": ["esc-1", "esc-2"],
        "rotation_start": "2026-01-05T09:00",
        "overrides": [
            {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z", "responder_id": "esc-2"}
        ],
    }
    r = await http.put(f"{fast_protocol}/crisis/rosters/casework", json=roster, headers=coordinator)
    assert r.status_code == 204, r.text
    listed = (await http.get(f"{fast_protocol}/crisis/rosters", headers=coordinator)).json()
    (mine,) = [x for x in listed if x["roster_id"] == "casework"]
    assert mine["on_call_now"] == "esc-2" and mine["next_change_at"].startswith("2100-01-01")
    assert mine["responder_ids"] == ["esc-1", "esc-2"]
