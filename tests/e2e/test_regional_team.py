"""The regional crisis team across organizations: a case of B that reaches the region's catch-all goes
to the team's responder, who belongs to A, on the console, in the inbox and by SMS and email to the
contacts A's admin set for them (never those B's admin set); nobody else outside B sees it, and
nobody of B sees A's own case.

Each negative check uses the probe that succeeds for somebody else in the same test, and each
person who must not see B's case is shown, by that probe, a case that is theirs: a probe that could
not see anything cannot pass for isolation.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import Mailpit, SmsReceiver, eventually, joined, put_staff

pytestmark = pytest.mark.e2e

# Organizations and regions of their own, so no other test's cases or teams are touched.
A, B, C = "team-a", "team-b", "team-c"
REGION, OTHER_REGION = "team-region", "team-other-region"  # A and B in the first, C in the other
LONG = 240  # minutes: nothing else moves while the test looks
FAST = 0.05  # minutes: B's one level lasts 3 s before the regional team is reached
# The regional responder's contacts as A's admin set them, and as B's admin set B's record of them.
A_PHONE, A_EMAIL = "+13125550170", "regional-a@team-a.example.org"
B_PHONE, B_EMAIL = "+13125550171", "regional-a@team-b.example.org"

Event = dict[str, Any]


@pytest.fixture
def regions(network: Stack) -> Iterator[Stack]:
    regions = [{"id": REGION, "name": "Team region"}, {"id": OTHER_REGION, "name": "Other region"}]
    organizations = [
        {"id": A, "name": A, "region": REGION},
        {"id": B, "name": B, "region": REGION},
        {"id": C, "name": C, "region": OTHER_REGION},
    ]
    with joined(network.network_file, regions, organizations):
        yield network


async def test_a_case_reaching_the_regional_team_goes_to_its_responder_in_another_organization_only(
    regions: Stack, tokens: Tokens, http: httpx.AsyncClient, mailpit: Mailpit, sms: SmsReceiver
) -> None:
    crisis, notifications = regions.url("crisis"), regions.url("notifications")
    regional = tokens("regional-a", A, Role.REGIONAL_RESPONDER, regions=(REGION,))
    responder_a = tokens("responder-a", A, Role.RESPONDER)
    admin_a = tokens("admin-a", A, Role.ORG_ADMIN)
    regional_c = tokens("regional-c", C, Role.REGIONAL_RESPONDER, regions=(OTHER_REGION,))
    # The same person as `regional` with a token for another region, or without the regional role:
    # B's notification is addressed to them, so only the region and the role keep it from them.
    same_person = {
        "regional-a for another region": tokens(
            "regional-a", A, Role.REGIONAL_RESPONDER, regions=(OTHER_REGION,)
        ),
        "regional-a as A's responder": tokens("regional-a", A, Role.RESPONDER, regions=(REGION,)),
    }

    # A: a regional responder vouched for by A, and staff who get A's own cases at its one level.
    await put_staff(http, crisis, admin_a, {"regional-a": ["regional_responder"]})
    await put_staff(http, crisis, admin_a, {"responder-a": ["responder"], "admin-a": ["coordinator"]})
    await put_protocol(http, crisis, admin_a, [{"responder_ids": ["responder-a", "admin-a"]}], "coordinator")
    # Each region's team, named by its network admin; C's cases go straight to its region's team.
    await put_team(http, crisis, tokens, REGION, ["regional-a"])
    # The responder never saved contacts of their own: A's admin keeps them. B's admin writing B's
    # record of them must not send B's case anywhere else.
    await put_contact(http, notifications, admin_a, "regional-a", phone=A_PHONE, email=A_EMAIL)
    admin_c = tokens("admin-c", C, Role.ORG_ADMIN)
    await put_staff(http, crisis, admin_c, {"regional-c": ["regional_responder"]})
    await put_team(http, crisis, tokens, OTHER_REGION, ["regional-c"])
    await put_protocol(http, crisis, admin_c, [], "regional_team")
    # B: one fast level of its own (its responder and its admin), then the regional team.
    admin_b = tokens("admin-b", B, Role.ORG_ADMIN)
    responder_b = tokens("responder-b", B, Role.RESPONDER)
    await put_staff(http, crisis, admin_b, {"responder-b": ["responder"], "admin-b": ["coordinator"]})
    b_level = {"responder_ids": ["responder-b", "admin-b"], "timeout_minutes": FAST}
    await put_contact(http, notifications, admin_b, "regional-a", phone=B_PHONE, email=B_EMAIL)
    await put_protocol(http, crisis, admin_b, [b_level], "regional_team")

    async with (
        console(http, crisis, regional) as regional_console,
        console(http, crisis, responder_a) as a_console,
        console(http, crisis, regional_c) as c_console,
    ):
        case = await raise_alert(http, crisis, tokens("member-b", B, Role.MEMBER))
        assert case["notified"] == ["responder-b", "admin-b"] and not case["regional"]

        # The regional responder of A gets B's escalation once B's level has timed out (that one
        # escalation: B's own level is not theirs to see).
        (shown,) = await eventually(lambda: escalations(regional_console, case["id"]), within=30)
        assert (shown["org"], shown["data"]["catch_all"], shown["data"]["region"]) == (
            B,
            "regional_team",
            REGION,
        )
        assert shown["data"]["responder_ids"] == ["regional-a"]
        (note,) = await eventually(notified(http, notifications, regional, case["id"]))
        assert (note["category"], note["priority"]) == ("crisis", "critical")
        # And by SMS and email, to what A's admin set: a crisis message goes on every channel at once.
        (text,) = await sms.wait_for(A_PHONE)
        assert f"/crisis/console#case-{case['id']}" in text["body"]
        (mail,) = await mailpit.wait_for(A_EMAIL)
        assert mail["Subject"] == note["title"]
        assert await sms.messages(B_PHONE) == [] and await mailpit.messages(to=B_EMAIL) == []
        assert await read_case(http, crisis, regional, case["id"]) == 200
        assert await lists_case(http, crisis, regional, case["id"])

        # A's own case and C's, raised after B's escalation: once each console shows its own, it
        # would have shown B's escalation too (a console receives the stream in order).
        case_a = await raise_alert(http, crisis, tokens("member-a", A, Role.MEMBER))
        case_c = await raise_alert(http, crisis, tokens("member-c", C, Role.MEMBER))
        await eventually(lambda: escalations(a_console, case_a["id"]))
        await eventually(lambda: escalations(c_console, case_c["id"]))
        assert not mentions(a_console, case["id"])
        assert not mentions(c_console, case["id"])

    # Everyone else outside B: their own case reads, lists and notifies them; B's does none of it.
    for who, headers, own in (
        ("A's responder", responder_a, case_a),
        ("A's org admin", admin_a, case_a),
        ("the other region's responder", regional_c, case_c),
    ):
        assert await read_case(http, crisis, headers, own["id"]) == 200, who
        assert await lists_case(http, crisis, headers, own["id"]), who
        assert await eventually(notified(http, notifications, headers, own["id"])), who
        assert await read_case(http, crisis, headers, case["id"]) == 404, who
        assert not await lists_case(http, crisis, headers, case["id"]), who
        assert not await inbox(http, notifications, headers, case["id"]), who
        assert await acknowledge(http, crisis, headers, case["id"]) == 404, who
    for who, headers in same_person.items():
        assert await read_case(http, crisis, headers, case["id"]) == 404, who
        assert not await lists_case(http, crisis, headers, case["id"]), who
        assert not await inbox(http, notifications, headers, case["id"]), who
        assert await acknowledge(http, crisis, headers, case["id"]) == 404, who
    # And the other way: B's people, whom their own case reads, lists and notifies, see none of A's.
    for who, headers in (("B's responder", responder_b), ("B's org admin", admin_b)):
        assert await read_case(http, crisis, headers, case["id"]) == 200, who
        assert await lists_case(http, crisis, headers, case["id"]), who
        assert await eventually(notified(http, notifications, headers, case["id"])), who
        assert await read_case(http, crisis, headers, case_a["id"]) == 404, who
        assert not await lists_case(http, crisis, headers, case_a["id"]), who
        assert not await inbox(http, notifications, headers, case_a["id"]), who
        assert await acknowledge(http, crisis, headers, case_a["id"]) == 404, who

    # The regional responder takes the case; B sees who did.
    assert await acknowledge(http, crisis, regional, case["id"]) == 200
    for headers in (regional, admin_b):
        r = await http.get(f"{crisis}/crisis/cases/{case['id']}", headers=headers)
        assert (r.json()["state"], r.json()["acknowledged_by"]) == ("acknowledged", "regional-a")


# --- set-up ------------------------------------------------------------------------------------


async def put_protocol(
    http: httpx.AsyncClient, crisis: str, admin: dict[str, str], levels: list[dict[str, Any]], catch_all: str
) -> None:
    body = {
        "levels": [{"timeout_minutes": LONG, **level} for level in levels],
        "catch_all": catch_all,
        "catch_all_timeout_minutes": LONG,
        "ack_timeout_minutes": LONG,
    }
    r = await http.put(f"{crisis}/crisis/protocol", json=body, headers=admin)
    assert r.status_code == 204, r.text


async def put_team(
    http: httpx.AsyncClient, crisis: str, tokens: Tokens, region: str, responder_ids: list[str]
) -> None:
    network_admin = tokens(f"net-admin-{region}", A, Role.NETWORK_ADMIN, regions=(region,))
    r = await http.put(
        f"{crisis}/crisis/regions/{region}/team", json={"responder_ids": responder_ids}, headers=network_admin
    )
    assert r.status_code == 204, r.text


async def put_contact(
    http: httpx.AsyncClient, notifications: str, admin: dict[str, str], person_id: str, **contact: str
) -> None:
    """The admin's organization's record of the person (`PUT /org/people/{id}/contact`)."""
    r = await http.put(f"{notifications}/org/people/{person_id}/contact", json=contact, headers=admin)
    assert r.status_code == 200, r.text


async def raise_alert(http: httpx.AsyncClient, crisis: str, member: dict[str, str]) -> dict[str, Any]:
    r = await http.post(f"{crisis}/crisis/alerts", json={"severity": "high"}, headers=member)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# --- probes, the same for whoever must and must not see a case -----------------------------------


async def read_case(http: httpx.AsyncClient, crisis: str, headers: dict[str, str], case_id: str) -> int:
    return (await http.get(f"{crisis}/crisis/cases/{case_id}", headers=headers)).status_code


async def lists_case(http: httpx.AsyncClient, crisis: str, headers: dict[str, str], case_id: str) -> bool:
    r = await http.get(f"{crisis}/crisis/cases", params={"state": "open"}, headers=headers)
    assert r.status_code == 200, r.text
    return case_id in {c["id"] for c in r.json()}


async def inbox(
    http: httpx.AsyncClient, notifications: str, headers: dict[str, str], case_id: str
) -> list[dict[str, Any]]:
    r = await http.get(f"{notifications}/me/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return [n for n in r.json() if n["link"].endswith(f"/crisis/console#case-{case_id}")]


def notified(
    http: httpx.AsyncClient, notifications: str, headers: dict[str, str], case_id: str
) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    """A probe for `eventually`: the inbox's notifications of the case, once there are any."""
    return lambda: inbox(http, notifications, headers, case_id)


async def acknowledge(http: httpx.AsyncClient, crisis: str, headers: dict[str, str], case_id: str) -> int:
    return (await http.post(f"{crisis}/crisis/cases/{case_id}/acknowledge", headers=headers)).status_code


@contextlib.asynccontextmanager
async def console(
    http: httpx.AsyncClient, crisis: str, headers: dict[str, str]
) -> AsyncIterator[list[Event]]:
    """A console open for the block: every event it is sent lands in the list."""
    seen: list[Event] = []
    async with http.stream("GET", f"{crisis}/crisis/console/events", headers=headers, timeout=30) as r:
        # The answer starts once the stream's subscription exists: nothing published after is missed.
        assert r.status_code == 200

        async def read() -> None:
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))

        reader = asyncio.create_task(read())
        try:
            yield seen
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def escalations(seen: list[Event], case_id: str) -> list[Event]:
    return [e for e in seen if e["type"] == "crisis.escalated.v1" and e["data"]["case_id"] == case_id]


def mentions(seen: list[Event], case_id: str) -> list[Event]:
    return [e for e in seen if e["data"].get("case_id") == case_id]
