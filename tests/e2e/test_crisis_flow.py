"""The end-to-end proof: every service a separate process, on real NATS and the real document store."""

import json
import secrets
from collections.abc import Awaitable, Callable

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually, put_staff

pytestmark = pytest.mark.e2e


async def setup_protocol(
    http: httpx.AsyncClient, network: Stack, tokens: Tokens, org: str, responder: str
) -> None:
    admin = tokens(f"{org}-admin", org, Role.ORG_ADMIN)
    staff = {responder: ["responder"], f"{org}-coordinator": ["coordinator"]}
    await put_staff(http, network.url("crisis"), admin, staff)
    r = await http.put(
        f"{network.url('crisis')}/crisis/rosters/oncall",
        json={"responder_ids": [responder], "rotation_start": "2026-01-05T09:00:00"},
        headers=admin,
    )
    assert r.status_code == 204, r.text
    r = await http.put(
        f"{network.url('crisis')}/crisis/protocol",
        json={"levels": [{"roster_id": "oncall"}, {"responder_ids": [f"{org}-coordinator"]}]},
        headers=admin,
    )
    assert r.status_code == 204, r.text


async def test_a_members_alert_reaches_the_on_call_responder_in_one_trace_and_nowhere_else(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient
) -> None:
    await setup_protocol(http, network, tokens, "org-a", "responder-a")
    await setup_protocol(http, network, tokens, "org-b", "responder-b")
    claimed = secrets.token_hex(16)
    member = tokens("member-a", "org-a", Role.MEMBER)

    r = await http.post(
        f"{network.url('crisis')}/crisis/alerts",
        json={"severity": "high"},
        headers={**member, "traceparent": f"00-{claimed}-{secrets.token_hex(8)}-01"},
    )
    assert r.status_code == 201, r.text
    # The request started a trace of its own and says which; the caller's is only a link.
    trace_id = r.headers["traceresponse"].split("-")[1]
    assert trace_id != claimed
    case = r.json()
    assert (case["state"], case["level"], case["notified"]) == ("triggered", 1, ["responder-a"])
    assert "988" in case["guidance"]

    # The on-call responder's inbox has the escalation.
    responder = tokens("responder-a", "org-a", Role.RESPONDER)

    async def inbox() -> list[dict]:
        r = await http.get(f"{network.url('notifications')}/me/notifications", headers=responder)
        return [n for n in r.json() if n["link"].endswith(f"/crisis/console#case-{case['id']}")]

    (note,) = await eventually(inbox)
    assert (note["category"], note["priority"]) == ("crisis", "critical")

    # Insights holds one trace spanning crisis and notifications.
    org_a_admin = tokens("org-a-admin", "org-a", Role.ORG_ADMIN)

    def complete(names: set[tuple[str, str]]) -> bool:
        handled = any(service == "notifications" and "escalated" in name for service, name in names)
        return handled and {("crisis", "insert cases"), ("notifications", "insert notifications")} <= names

    async def trace() -> dict | None:
        # Spans arrive in batches from each service: wait for the ones this flow must contain.
        r = await http.get(f"{network.url('insights')}/traces/{trace_id}", headers=org_a_admin)
        body = r.json() if r.status_code == 200 else None
        return body if body and complete({(s["service"], s["name"]) for s in body["spans"]}) else None

    found = await eventually(trace)
    assert {s["trace_id"] for s in found["spans"]} == {trace_id}
    assert {s["attributes"]["rn.org"] for s in found["spans"]} == {"org-a"}
    assert {"crisis", "notifications"} <= set(found["services"])
    assert any(link["trace_id"] == claimed for s in found["spans"] for link in s["links"])

    # The other organization sees none of it.
    org_b_admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    org_b_responder = tokens("responder-a", "org-b", Role.RESPONDER)  # same user id, other org
    assert (
        await http.get(f"{network.url('insights')}/traces/{trace_id}", headers=org_b_admin)
    ).status_code == 404
    r = await http.get(f"{network.url('crisis')}/crisis/cases/{case['id']}", headers=org_b_admin)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (
        await http.get(f"{network.url('notifications')}/me/notifications", headers=org_b_responder)
    ).json() == []
    assert (
        await http.get(f"{network.url('crisis')}/crisis/cases/{case['id']}", headers=responder)
    ).status_code == 200

    # Redelivering the same escalation (as after the duplicate window) creates no second notification.
    js = admin_nc.jetstream()
    original = await js.get_last_msg("CRISIS", "rn.org-a.crisis.escalated.v1")
    assert json.loads(original.data or b"")["data"]["case_id"] == case["id"]
    ack = await js.publish(
        "rn.org-a.crisis.escalated.v1",
        original.data or b"",
        headers={"Nats-Msg-Id": f"redelivery-{case['id']}"},
    )
    assert not ack.duplicate

    async def consumed() -> bool:
        info = await js.consumer_info("CRISIS", "notifications-crisis-escalated-v1")
        return info.ack_floor.stream_seq >= ack.seq and info.num_ack_pending == 0

    await eventually(consumed)
    assert len(await inbox()) == 1


async def test_a_trace_id_from_another_organization_does_not_open_its_trace(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    await setup_protocol(http, network, tokens, "org-a", "responder-a")
    await setup_protocol(http, network, tokens, "org-b", "responder-b")
    alerts = f"{network.url('crisis')}/crisis/alerts"
    r = await http.post(alerts, json={}, headers=tokens("member-a2", "org-a", Role.MEMBER))
    a_trace = r.headers["traceresponse"].split("-")[1]
    # A member of B sends A's trace id, as if B's request were part of A's trace.
    r = await http.post(
        alerts,
        json={},
        headers={
            **tokens("member-b2", "org-b", Role.MEMBER),
            "traceparent": f"00-{a_trace}-{secrets.token_hex(8)}-01",
        },
    )
    assert r.status_code == 201, r.text
    b_trace = r.headers["traceresponse"].split("-")[1]
    assert b_trace != a_trace

    def trace_of(trace_id: str, org: str) -> Callable[[], Awaitable[list[dict]]]:
        async def spans() -> list[dict]:
            admin = tokens(f"{org}-admin", org, Role.ORG_ADMIN)
            r = await http.get(f"{network.url('insights')}/traces/{trace_id}", headers=admin)
            body = r.json() if r.status_code == 200 else {"spans": []}
            # Wait for the notification side too: its spans are what a leak would show.
            return body["spans"] if "notifications" in body.get("services", []) else []

        return spans

    b_spans = await eventually(trace_of(b_trace, "org-b"))
    a_spans = await eventually(trace_of(a_trace, "org-a"))
    assert {s["attributes"]["rn.org"] for s in b_spans} == {"org-b"}
    assert {s["attributes"]["rn.org"] for s in a_spans} == {"org-a"}
    b_admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    r = await http.get(f"{network.url('insights')}/traces/{a_trace}", headers=b_admin)
    assert r.status_code == 404, r.text
    # The region's network admin sees both organizations' traces.
    lakeshore = tokens("net-admin", "org-a", Role.NETWORK_ADMIN, regions=("lakeshore",))
    r = await http.get(f"{network.url('insights')}/traces/{b_trace}", headers=lakeshore)
    assert r.status_code == 200 and {s["attributes"]["rn.org"] for s in r.json()["spans"]} == {"org-b"}


async def test_a_protocol_that_could_reach_nobody_is_refused_with_problem_details(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = f"{network.url('crisis')}/crisis/protocol"
    admin = tokens("org-b-admin", "org-b", Role.ORG_ADMIN)
    for levels, status in (
        ([{"roster_id": "no-such-roster"}], 422),
        ([{"responder_ids": []}], 422),
        ([{"responder_ids": ["nobody-we-know"]}], 422),
    ):
        r = await http.put(url, json={"levels": levels}, headers=admin)
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json"
    member = tokens("m", "org-b", Role.MEMBER)
    assert (
        await http.put(url, json={"levels": [{"responder_ids": ["x"]}]}, headers=member)
    ).status_code == 403


async def test_an_alert_needs_a_member_or_mentor_token(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = f"{network.url('crisis')}/crisis/alerts"
    assert (await http.post(url, json={})).status_code == 401
    r = await http.post(url, json={}, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"
    r = await http.post(url, json={}, headers=tokens("x", "org-unknown", Role.MEMBER))
    assert r.status_code == 403 and "not part of this network" in r.json()["detail"]
    r = await http.post(url, json={}, headers=tokens("x", "org-a", Role.RESPONDER))
    assert r.status_code == 403


async def test_insights_takes_spans_only_from_exporters_holding_the_ingest_token(
    network: Stack, http: httpx.AsyncClient
) -> None:
    url = f"{network.url('insights')}/v1/traces"
    export = {"resourceSpans": []}
    assert (await http.post(url, json=export)).status_code == 401
    forged = {"Authorization": "Bearer guess"}
    assert (await http.post(url, json=export, headers=forged)).status_code == 401
    ok = await http.post(url, json=export, headers={"Authorization": f"Bearer {network.otlp_token}"})
    assert ok.status_code == 200
    bad = await http.post(
        url,
        content=b"\x00\x01junk",
        headers={"Authorization": f"Bearer {network.otlp_token}", "content-type": "application/x-protobuf"},
    )
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


async def test_resolving_a_case_reminds_the_responder_of_the_caring_contact(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    await setup_protocol(http, network, tokens, "org-a", "responder-a")
    member = tokens("member-follow-up", "org-a", Role.MEMBER)
    case = (await http.post(f"{network.url('crisis')}/crisis/alerts", json={}, headers=member)).json()
    responder = tokens("responder-a", "org-a", Role.RESPONDER)
    resolution = {"outcome": "referred", "referral": "988"}
    url = f"{network.url('crisis')}/crisis/cases/{case['id']}/resolve"
    assert (await http.post(url, json=resolution, headers=responder)).status_code == 200

    async def reminder() -> list[dict]:
        r = await http.get(f"{network.url('notifications')}/me/notifications", headers=responder)
        link = f"/crisis/console#case-{case['id']}"
        return [
            n for n in r.json() if n["link"].endswith(link) and n["title"].startswith("Caring contact due")
        ]

    (note,) = await eventually(reminder)
    assert note["category"] == "crisis"
