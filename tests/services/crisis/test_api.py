"""Crisis HTTP routes on the real stack: notes, audit, rosters, bad input answered with problem details."""

from typing import Any

import httpx
from pymongo import AsyncMongoClient

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import put_staff
from tests.services.crisis.conftest import raise_alert


async def test_notes_are_encrypted_at_rest_and_every_read_is_audited(
    fast_protocol: str, network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    case = await raise_alert(http, fast_protocol, tokens)
    url = f"{fast_protocol}/crisis/cases/{case['id']}"
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    secret = "Spoke with J. at 555-0100; safety plan reviewed"
    r = await http.post(f"{url}/notes", json={"text": secret}, headers=responder)
    assert r.status_code == 204, r.text

    notes = (await http.get(f"{url}/notes", headers=responder)).json()
    assert [(n["author"], n["text"]) for n in notes] == [("esc-1", secret)]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(network.database_url)
    try:
        stored = await client.rn_crisis.cases.find_one({"_id": case["id"]})
    finally:
        await client.close()
    assert stored is not None and secret not in str(stored) and len(stored["notes"]) == 1

    coordinator = tokens("esc-coord", "org-a", Role.COORDINATOR)
    assert (await http.get(url, headers=coordinator)).status_code == 200
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    audit = (await http.get(f"{url}/audit", headers=admin)).json()
    assert [(a["reader"], a["action"]) for a in audit] == [("esc-1", "read"), ("esc-coord", "read")]
    assert (await http.get(f"{url}/audit", headers=responder)).status_code == 403


async def test_a_member_sees_only_their_own_case_and_may_cancel_it(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    member = tokens("member-own", "org-a", Role.MEMBER)
    case = (
        await http.post(f"{fast_protocol}/crisis/alerts", json={"severity": "low"}, headers=member)
    ).json()
    other_member = tokens("member-other", "org-a", Role.MEMBER)
    url = f"{fast_protocol}/crisis/cases/{case['id']}"
    assert (await http.get(url, headers=other_member)).status_code == 404
    r = await http.post(f"{url}/cancel", json={"reason": "raised_by_mistake"}, headers=member)
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    again = await http.post(f"{fast_protocol}/crisis/alerts", json={"severity": "low"}, headers=member)
    assert again.status_code == 201 and again.json()["id"] != case["id"]  # a closed case takes no merges


async def test_the_on_call_answer_follows_the_organizations_time_zone_and_overrides(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    # org-b's time zone is UTC in the test network; a roster with an override and a gap.
    admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    url = network.url("crisis")
    for person in ("oc-1", "oc-2", "oc-cover"):
        await http.put(f"{url}/crisis/staff/{person}", json={"roles": ["responder"]}, headers=admin)
    roster = {
        "responder_ids": ["oc-1", "oc-2"],
        "rotation_start": "2026-03-02T09:00:00",
        "overrides": [
            {"start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z", "responder_id": "oc-cover"},
            {"start": "2026-03-12T00:00:00Z", "end": "2026-03-13T00:00:00Z", "responder_id": None},
        ],
    }
    assert (await http.put(f"{url}/crisis/rosters/oc", json=roster, headers=admin)).status_code == 204
    responder = tokens("oc-1", "org-b", Role.RESPONDER)

    async def on_call(at: str) -> Any:
        r = await http.get(f"{url}/crisis/rosters/oc/on-call", params={"at": at}, headers=responder)
        assert r.status_code == 200, r.text
        return r.json()["responder_id"]

    assert await on_call("2026-03-03T12:00:00Z") == "oc-1"
    assert await on_call("2026-03-09T09:00:00Z") == "oc-2"
    assert await on_call("2026-03-10T12:00:00Z") == "oc-cover"
    assert await on_call("2026-03-12T12:00:00Z") is None
    r = await http.get(
        f"{url}/crisis/rosters/oc/on-call", params={"at": "2026-03-03T12:00:00"}, headers=responder
    )
    assert r.status_code == 422  # a time without its offset is ambiguous
    other_org = tokens("x", "org-a", Role.RESPONDER)
    assert (await http.get(f"{url}/crisis/rosters/oc/on-call", headers=other_org)).status_code == 404


async def test_bad_input_gets_problem_details_and_changes_nothing(
    fast_protocol: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)
    member = tokens("member-bad", "org-a", Role.MEMBER)
    responder = tokens("esc-1", "org-a", Role.RESPONDER)
    case = await raise_alert(http, fast_protocol, tokens)
    for method, path, headers, body in (
        ("POST", "/crisis/alerts", member, {"severity": "apocalyptic"}),
        ("POST", "/crisis/alerts", member, {"severity": "high", "extra": 1}),
        ("POST", "/crisis/alerts", member, {"member_id": "someone-else"}),
        ("PUT", "/crisis/protocol", admin, {"levels": [{"responder_ids": ["ghost"]}]}),
        ("PUT", "/crisis/protocol", admin, {"levels": [{"roster_id": "no-such-roster"}]}),
        ("PUT", "/crisis/protocol", admin, {"levels": [], "repeats": 10}),
        ("PUT", "/crisis/protocol", admin, {"levels": [{"responder_ids": ["esc-1"], "timeout_minutes": 0}]}),
        (
            "PUT",
            "/crisis/rosters/r1",
            admin,
            {"responder_ids": ["ghost"], "rotation_start": "2026-01-05T09:00:00"},
        ),
        ("PUT", "/crisis/staff/esc-9", admin, {"roles": ["overlord"]}),
        ("POST", f"/crisis/cases/{case['id']}/notes", responder, {"text": "x" * 4001}),
        (
            "POST",
            f"/crisis/cases/{case['id']}/resolve",
            responder,
            {"outcome": "referred", "referral": "warm_handoff"},
        ),
        ("POST", f"/crisis/cases/{case['id']}/cancel", responder, {"reason": "bored"}),
    ):
        r = await http.request(method, fast_protocol + path, headers=headers, json=body)
        assert 400 <= r.status_code < 500, (path, body, r.status_code)
        assert r.headers["content-type"] == "application/problem+json", (path, r.text)
    r = await http.post(f"{fast_protocol}/crisis/alerts", content=b"{not json", headers=member)
    assert r.status_code == 422

    # Nothing half-written: the protocol still escalates to esc-1 first, the case is still open, no notes.
    assert (await raise_alert(http, fast_protocol, tokens))["notified"] == ["esc-1"]
    detail = (await http.get(f"{fast_protocol}/crisis/cases/{case['id']}", headers=responder)).json()
    assert detail["state"] == "triggered"
    assert (
        await http.get(f"{fast_protocol}/crisis/cases/{case['id']}/notes", headers=responder)
    ).json() == []
    roster = await http.get(f"{fast_protocol}/crisis/rosters/r1/on-call", headers=responder)
    assert roster.status_code == 404


async def test_dates_at_the_ends_of_the_calendar_are_refused_with_problem_details(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = network.url("crisis")
    admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    await http.put(f"{url}/crisis/staff/edge-1", json={"roles": ["responder"]}, headers=admin)
    roster = {"responder_ids": ["edge-1"], "rotation_start": "2026-03-02T09:00:00"}
    assert (await http.put(f"{url}/crisis/rosters/edge", json=roster, headers=admin)).status_code == 204
    responder = tokens("edge-1", "org-b", Role.RESPONDER)
    for at in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"):
        r = await http.get(f"{url}/crisis/rosters/edge/on-call", params={"at": at}, headers=responder)
        assert r.status_code == 422, (at, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    far = {"start": "9999-12-31T00:00:00-12:00", "end": "9999-12-31T23:59:59-12:00", "responder_id": None}
    for bad in ({**roster, "rotation_start": "0001-01-01T00:00:00"}, {**roster, "overrides": [far]}):
        r = await http.put(f"{url}/crisis/rosters/edge", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    # The same roster answers for a date within the range: the refusals were about the dates alone.
    r = await http.get(
        f"{url}/crisis/rosters/edge/on-call", params={"at": "2199-12-31T12:00:00Z"}, headers=responder
    )
    assert (r.status_code, r.json()["responder_id"]) == (200, "edge-1")


async def test_the_regional_team_names_only_regional_responders_of_the_region_and_records_who_changed_it(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    crisis = network.url("crisis")
    url = f"{crisis}/crisis/regions/lakeshore/team"
    net_admin = tokens("net-admin-1", "org-a", Role.NETWORK_ADMIN, regions=("lakeshore",))
    org_b_admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    await put_staff(
        http, crisis, org_b_admin, {"regional-b1": ["regional_responder"], "plain-b1": ["responder"]}
    )

    for ids in (["nobody-anywhere"], ["plain-b1"], ["regional-b1", "made-up"]):
        r = await http.put(url, json={"responder_ids": ids}, headers=net_admin)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    r = await http.put(url, json={"responder_ids": ["regional-b1"]}, headers=net_admin)
    assert r.status_code == 204, r.text

    team = (await http.get(url, headers=net_admin)).json()
    assert team["responder_ids"] == ["regional-b1"]
    latest = team["changes"][0]
    assert (latest["changed_by"], latest["responder_ids"]) == ("net-admin-1", ["regional-b1"])
    elsewhere = tokens("net-admin-2", "org-a", Role.NETWORK_ADMIN, regions=("hills",))
    assert (await http.get(url, headers=elsewhere)).status_code == 403
    assert (
        await http.put(url, json={"responder_ids": ["regional-b1"]}, headers=elsewhere)
    ).status_code == 403
