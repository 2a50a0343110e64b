"""Mentoring across processes: a request to an active match, capacity under load on two replicas,
and a proposal that expires although every mentoring process was killed."""

import asyncio
import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contracts.ids import new_id
from deploy.local.stack import Stack, free_port, http_ok, wait_for
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually, joined

pytestmark = pytest.mark.e2e


@pytest.fixture
def org(network: Stack) -> Iterator[str]:
    """An organization of its own: nobody else's mentors or waiting members in the counts."""
    org_id = f"mentoring-{new_id()[-8:]}"
    with joined(network.network_file, [], [{"id": org_id, "name": org_id, "region": "lakeshore"}]):
        yield org_id


async def add_mentors(
    http: httpx.AsyncClient, base: str, admin: dict[str, str], mentors: dict[str, dict[str, Any]]
) -> None:
    for mentor_id, profile in mentors.items():
        r = await http.put(f"{base}/mentors/{mentor_id}", json=profile, headers=admin)
        assert r.status_code == 200, r.text


async def test_a_request_becomes_an_active_match_after_a_decline_and_only_its_people_see_it(
    network: Stack, org: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base = network.url("mentoring")
    coordinator = tokens("coord", org, Role.COORDINATOR)
    await add_mentors(http, base, coordinator, {
        "ana": {"capacity": 2, "languages": ["es", "en"], "pathways": ["smart_recovery"]},
        "ben": {"capacity": 2, "languages": ["es"], "pathways": ["smart_recovery"],
                "lived_experience": ["opioids"]},
        "cy": {"capacity": 2, "languages": ["en"]},  # speaks no Spanish: never proposed
    })  # fmt: skip
    member = tokens("sam", org, Role.MEMBER)
    wants = {
        "languages": ["es"],
        "pathways": ["smart_recovery"],
        "preferences": [{"kind": "lived_experience", "value": "opioids", "weight": 3}],
    }
    r = await http.post(f"{base}/mentoring/requests", json=wants, headers=member)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["status"], first["proposal"]["mentor_id"]) == ("proposed", "ben")
    explanation = first["explanation"]
    assert explanation["score"] == 100 + 10  # the whole preference, and all the room
    assert {c["constraint"] for c in explanation["checks"] if c["held"]} >= {"language", "pathway"}
    assert (await http.post(f"{base}/mentoring/requests", json=wants, headers=member)).status_code == 409

    # ben hears of it; he declines, and ana, the next candidate, is proposed (never ben again).
    ben = tokens("ben", org, Role.MENTOR)

    async def proposals_to_ben() -> list[dict[str, Any]]:
        r = await http.get(f"{network.url('notifications')}/me/notifications", headers=ben)
        return [n for n in r.json() if n["category"] == "mentoring"]

    assert await eventually(proposals_to_ben)
    match_id = first["proposal"]["match_id"]
    assert (await http.post(f"{base}/mentoring/matches/{match_id}/decline", headers=ben)).status_code == 204
    assert (await http.post(f"{base}/mentoring/matches/{match_id}/accept", headers=ben)).status_code == 404
    mine = (await http.get(f"{base}/mentoring/me", headers=member)).json()
    assert (mine["status"], mine["proposal"]["mentor_id"]) == ("proposed", "ana")

    ana = tokens("ana", org, Role.MENTOR)
    second = mine["proposal"]["match_id"]
    r = await http.post(f"{base}/mentoring/matches/{second}/accept", headers=ana)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    mine = (await http.get(f"{base}/mentoring/me", headers=member)).json()
    assert (mine["status"], mine["match"]["mentor_id"]) == ("matched", "ana")
    view = (await http.get(f"{base}/mentoring/mentor", headers=ana)).json()
    assert [m["member_id"] for m in view["mentees"]] == ["sam"]

    # Nobody outside the pair and the organization's coordinators finds any of it.
    for outsider in (tokens("coord", "org-b", Role.COORDINATOR), tokens("cy", org, Role.MENTOR)):
        for path in (f"/mentoring/matches/{second}", f"/mentoring/requests/{first['id']}"):
            assert (await http.get(f"{base}{path}", headers=outsider)).status_code == 404, path
    other_coordinator = tokens("coord", "org-b", Role.COORDINATOR)
    assert (await http.get(f"{base}/mentors/ana", headers=other_coordinator)).status_code == 404

    r = await http.post(
        f"{base}/mentoring/matches/{second}/end",
        json={"reason": "not_a_fit", "back_to_waiting": True},
        headers=member,
    )
    assert r.status_code == 204, r.text
    mine = (await http.get(f"{base}/mentoring/me", headers=member)).json()
    # Back on the list: ana is excluded now, ben declined before that request, so he is a candidate again.
    assert (mine["status"], mine["proposal"]["mentor_id"]) == ("proposed", "ben")


async def test_twenty_requests_at_once_on_two_replicas_never_exceed_capacity(
    network: Stack, org: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base = network.url("mentoring")
    await add_mentors(http, base, tokens("coord", org, Role.COORDINATOR), {m: {"capacity": 2} for m in "xyz"})
    replica = network.start_replica("mentoring", port := free_port())
    try:
        urls = [base, f"http://127.0.0.1:{port}"]
        answers = await asyncio.gather(*(
            http.post(f"{urls[i % 2]}/mentoring/requests", json={}, headers=tokens(f"m{i}", org, Role.MEMBER))
            for i in range(20)
        ))  # fmt: skip
    finally:
        network.kill(replica)
    assert [a.status_code for a in answers] == [201] * 20
    assert sorted(a.json()["status"] for a in answers) == ["proposed"] * 6 + ["waiting"] * 14
    view = (
        await http.get(f"{base}/mentoring/coordinator", headers=tokens("coord", org, Role.COORDINATOR))
    ).json()
    assert sorted((m["mentor_id"], m["proposed"]) for m in view["mentors"]) == [("x", 2), ("y", 2), ("z", 2)]
    assert len(view["waiting"]) == 14
    assert len({p["member_id"] for p in view["proposals"]}) == 6


async def test_an_unanswered_proposal_expires_across_a_kill_9_and_the_next_candidate_gets_it(
    network: Stack, org: str, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base = network.url("mentoring")
    await add_mentors(
        http,
        base,
        tokens("coord", org, Role.COORDINATOR),
        {"first": {"capacity": 3}, "next": {"capacity": 1}},
    )
    # A replica whose proposals expire after a few seconds makes the proposal; then every mentoring
    # process dies, and the timer, kept in the store, is fired by the one that comes back.
    replica = network.start_replica(
        "mentoring", port := free_port(), env={"RN_PROPOSAL_EXPIRES_AFTER_HOURS": "0.001"}
    )
    member = tokens("sam", org, Role.MEMBER)
    r = await http.post(f"http://127.0.0.1:{port}/mentoring/requests", json={}, headers=member)
    assert r.status_code == 201 and r.json()["proposal"]["mentor_id"] == "first", r.text
    expires = dt.datetime.fromisoformat(r.json()["proposal"]["expires_at"])
    network.kill(replica)
    network.kill("mentoring")
    try:
        await asyncio.sleep(max((expires - dt.datetime.now(dt.UTC)).total_seconds(), 0))
    finally:
        network.respawn("mentoring")
        health = functools.partial(http_ok, f"{base}/health")
        await asyncio.to_thread(wait_for, health, "mentoring", 60, network.procs["mentoring"])

    async def moved_on() -> dict[str, Any] | None:
        mine = (await http.get(f"{base}/mentoring/me", headers=member)).json()
        return mine if (mine.get("proposal") or {}).get("mentor_id") == "next" else None

    assert await eventually(moved_on, within=30)
    first = (await http.get(f"{base}/mentors/first", headers=tokens("first", org, Role.MENTOR))).json()
    assert first["proposals_waiting"] == 0
