"""A check-in saying "I need help now", across the running network: mentoring asks crisis for a case
through its outbox, crisis opens it, and the on-call responder is told.

Every service a separate process, on real NATS and the real document store.
"""

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually, joined, put_staff

pytestmark = pytest.mark.e2e

ORG = "checkins-a"


@pytest.fixture
def org(network: Stack) -> Iterator[Stack]:
    with joined(network.network_file, [], [{"id": ORG, "name": ORG, "region": "lakeshore"}]):
        yield network


async def on_call(http: httpx.AsyncClient, network: Stack, admin: dict[str, str], responder: str) -> None:
    """One level: the on-call roster, so even an imminent alert (which skips a first level) reaches it."""
    crisis = network.url("crisis")
    await put_staff(http, crisis, admin, {responder: ["responder"], f"{ORG}-coordinator": ["coordinator"]})
    r = await http.put(
        f"{crisis}/crisis/rosters/oncall",
        json={"responder_ids": [responder], "rotation_start": "2026-01-05T09:00:00"},
        headers=admin,
    )
    assert r.status_code == 204, r.text
    r = await http.put(f"{crisis}/crisis/protocol", json={"levels": [{"roster_id": "oncall"}]}, headers=admin)
    assert r.status_code == 204, r.text


async def test_a_check_in_saying_i_need_help_now_opens_a_crisis_case_and_the_on_call_responder_is_told(
    org: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    mentoring = org.url("mentoring")
    admin = tokens(f"{ORG}-admin", ORG, Role.ORG_ADMIN)
    await on_call(http, org, admin, f"{ORG}-responder")
    mentor_id, member_id = f"mentor-{secrets.token_hex(4)}", f"member-{secrets.token_hex(4)}"
    member = tokens(member_id, ORG, Role.MEMBER)

    # A member with an active match: a mentor registered, a request, the mentor's yes.
    r = await http.put(f"{mentoring}/mentors/{mentor_id}", json={"capacity": 1}, headers=admin)
    assert r.status_code == 200, r.text
    r = await http.post(f"{mentoring}/mentoring/requests", json={}, headers=member)
    assert r.status_code == 201, r.text
    proposal = r.json()["proposal"]
    assert proposal["mentor_id"] == mentor_id
    mentor = tokens(mentor_id, ORG, Role.MENTOR)
    r = await http.post(f"{mentoring}/mentoring/matches/{proposal['match_id']}/accept", headers=mentor)
    assert r.status_code == 200, r.text

    r = await http.post(
        f"{mentoring}/mentoring/check-ins",
        json={"mood": 1, "craving": 9, "note": "I can't do tonight alone", "need_help_now": True},
        headers=member,
    )
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["help_requested"] is True and "988" in answer["next_steps"]

    # Crisis opened an imminent case, and the on-call responder's inbox has it.
    responder = tokens(f"{ORG}-responder", ORG, Role.RESPONDER)

    async def told() -> list[dict[str, Any]]:
        r = await http.get(f"{org.url('notifications')}/me/notifications", headers=responder)
        return [n for n in r.json() if "/crisis/console#case-" in n["link"]]

    (note,) = await eventually(told)
    assert (note["category"], note["priority"]) == ("crisis", "critical")
    assert "can't do tonight" not in str(note)
    case_id = note["link"].rsplit("#case-", 1)[1]
    r = await http.get(f"{org.url('crisis')}/crisis/cases/{case_id}", headers=responder)
    assert r.status_code == 200, r.text
    case = r.json()
    assert (case["state"], case["severity"], case["notified"]) == (
        "triggered",
        "imminent",
        [f"{ORG}-responder"],
    )

    # Their mentor reads the check-in; another organization does not see it exists.
    r = await http.get(f"{mentoring}/mentoring/matches/{proposal['match_id']}/check-ins", headers=mentor)
    assert r.status_code == 200, r.text
    assert [c["note"] for c in r.json()] == ["I can't do tonight alone"]
    stranger = tokens(mentor_id, "org-b", Role.MENTOR)
    r = await http.get(f"{mentoring}/mentoring/matches/{proposal['match_id']}/check-ins", headers=stranger)
    assert r.status_code == 404
