"""Tenant isolation, generated from the OpenAPI documents of the running services.

Organization A gets one of everything (a meeting, a mentor and a mentoring request, crisis staff, a
roster, a protocol, an open case with a note, a webhook, the notifications and the trace these cause).
Then every operation of every service, as its /openapi.json lists it, is called with each role of
organization B, its path parameters filled with A's ids. No answer may show B anything of A's, and
nothing of A's may change. A route added later is called the same way without anyone listing it.
"""

import asyncio
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from contracts.ids import new_id
from deploy.local.stack import Stack
from deploy.local.topology import SERVICES
from shared.auth.principal import Role
from shared.outbox import INTENTS
from tests.conftest import Tokens
from tests.helpers import joined

pytestmark = pytest.mark.e2e

# Organizations of their own, so what B's calls write (mentors and rosters under A's ids, say) lands
# where no other test looks.
A, B = "iso-a", "iso-b"
REGION = "isolation"  # both organizations' region
NETWORK_ROLES = frozenset({Role.NETWORK_ADMIN, Role.REGIONAL_RESPONDER})

# Operations whose successful answers show A's data to anyone, by design.
PUBLIC = {
    ("GET", "/directory/meetings"): "the meeting directory is public across the network",
    ("GET", "/directory/meetings/{slug}"): "a meeting's public listing, as in the directory",
    ("GET", "/directory/meetings/{slug}/calendar.ics"): "a meeting's public calendar, as in the directory",
    ("GET", "/directory/calendar.ics"): "a directory search as a calendar",
    ("GET", "/feeds/meetings.json"): "the network's Meeting Guide feed: the directory, in the open format",
    ("GET", "/feeds/{org}/meetings.json"): "an organization's Meeting Guide feed",
    ("GET", "/feeds/{org}/calendar.ics"): "an organization's public meetings calendar",
}
# Operations the network grants to its network roles across the organizations of their regions: what
# they show or change belongs to the region, or to the region's organizations by that grant.
NETWORK_GRANTS = {
    ("GET", "/traces/{trace_id}"): "a network admin reads the traces of the region's organizations",
    ("GET", "/crisis/regions/{region}/team"): "the regional crisis team is the region's, not A's",
    ("PUT", "/crisis/regions/{region}/team"): "the regional crisis team is the region's, not A's",
}
# A stream never ends, so it cannot be called like the rest: B's console stream is shown to carry
# nothing of A's by tests/services/crisis/test_console.py.
STREAM = "text/event-stream"


@dataclass
class OrganizationA:
    ids: dict[str, str]  # path parameter name -> A's id for it
    secrets: set[str]  # values found only in A's data
    bodies: dict[str, dict[str, Any]]  # request body schema name -> a valid body
    tag: str  # in every id and text of A's made here

    def people(self, role: Role) -> str:
        return f"a-{role}-{self.tag}"


@pytest.fixture
def isolated(network: Stack) -> Iterator[Stack]:
    organizations = [{"id": org, "name": org, "region": REGION} for org in (A, B)]
    with joined(network.network_file, [{"id": REGION, "name": "Isolation"}], organizations):
        yield network


async def test_no_role_of_another_organization_reads_or_changes_anything_of_a_through_any_route(
    isolated: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    network = isolated
    a = await arrange_organization_a(network, tokens, http)
    before = await settled(network, a)
    operations = [op for spec in SERVICES for op in await operations_of(http, network.url(spec.name))]
    assert len(operations) > 20 and any(path == "/crisis/cases/{case_id}" for _, _, path, _ in operations)

    violations: list[str] = []
    # Every read first, while B holds nothing under A's ids: a 2xx to one of them can only be A's.
    for writing in (False, True):
        for role in Role:
            headers = tokens(a.people(role), B, role, regions=(REGION,) if role in NETWORK_ROLES else ())
            for base, method, path, operation in operations:
                if (method != "GET") != writing:
                    continue
                grant = PUBLIC.get((method, path)) or (
                    NETWORK_GRANTS.get((method, path)) if role in NETWORK_ROLES else None
                )
                if grant and writing:
                    continue  # a granted change is the network's to make, and other tests rely on it
                for call in calls(a, operation, base, method, path):
                    r = await http.request(method, call.url, json=call.body, headers=headers)
                    if r.is_success and not grant:
                        violations += leaks(a, role, method, path, call, r, writing)

    after = await settled(network, a)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not violations, "\n".join(violations)
    assert not changed, "A's documents changed while B called every route:\n" + "\n".join(
        f"{name}:\n  before {before.get(name)}\n  after  {after.get(name)}" for name in changed
    )


# --- organization A ----------------------------------------------------------------------------


async def arrange_organization_a(network: Stack, tokens: Tokens, http: httpx.AsyncClient) -> OrganizationA:
    tag = new_id()[-10:].lower()
    a = OrganizationA(ids={"region": REGION}, secrets=set(), bodies={}, tag=tag)
    admin = tokens(a.people(Role.ORG_ADMIN), A, Role.ORG_ADMIN)
    member = tokens(a.people(Role.MEMBER), A, Role.MEMBER)
    responder = tokens(a.people(Role.RESPONDER), A, Role.RESPONDER)
    on_call, roster_id = f"a-oncall-{tag}", f"a-roster-{tag}"
    meetings, mentoring = network.url("meetings"), network.url("mentoring")
    crisis = network.url("crisis")

    a.bodies["Listing"] = {
        "name": f"A meeting {tag}",
        "day": 3,
        "time": "19:00",
        "timezone": "America/Chicago",
        "formatted_address": f"{tag} Harbor St",
    }
    meeting = ok(await http.post(f"{meetings}/meetings", json=a.bodies["Listing"], headers=admin))
    a.bodies["MentorUpdate"] = {"capacity": 2, "lived_experience": [f"focus-{tag}"]}
    url = f"{mentoring}/mentors/{a.people(Role.MENTOR)}"
    ok(await http.put(url, json=a.bodies["MentorUpdate"], headers=admin))
    a.bodies["MentorRequestCreate"] = {
        "preferences": [{"kind": "lived_experience", "value": f"focus-{tag}", "weight": 2}]
    }
    url = f"{mentoring}/mentoring/requests"
    request = ok(await http.post(url, json=a.bodies["MentorRequestCreate"], headers=member))

    a.bodies["StaffUpdate"] = {"roles": ["responder"]}
    for person, role in (
        (a.people(Role.RESPONDER), "responder"),
        (on_call, "responder"),
        (a.people(Role.COORDINATOR), "coordinator"),
    ):
        ok(await http.put(f"{crisis}/crisis/staff/{person}", json={"roles": [role]}, headers=admin))
    a.bodies["RosterUpdate"] = {"responder_ids": [on_call], "rotation_start": "2026-01-05T09:00:00"}
    ok(await http.put(f"{crisis}/crisis/rosters/{roster_id}", json=a.bodies["RosterUpdate"], headers=admin))
    # Levels long enough that A's case stays where it is for the whole test.
    a.bodies["ProtocolUpdate"] = {
        "levels": [{"roster_id": roster_id, "timeout_minutes": 240}],
        "catch_all": "coordinator",
        "catch_all_timeout_minutes": 240,
        "ack_timeout_minutes": 240,
    }
    ok(await http.put(f"{crisis}/crisis/protocol", json=a.bodies["ProtocolUpdate"], headers=admin))
    a.bodies["AlertCreate"] = {"severity": "high"}
    r = await http.post(f"{crisis}/crisis/alerts", json=a.bodies["AlertCreate"], headers=member)
    case = ok(r)
    a.bodies["NoteCreate"] = {"text": f"A's note {tag}: safety plan reviewed"}
    ok(
        await http.post(
            f"{crisis}/crisis/cases/{case['id']}/notes", json=a.bodies["NoteCreate"], headers=responder
        )
    )
    # A closed port on this machine: deliveries fail at once rather than wait on a network.
    a.bodies["WebhookUpdate"] = {"url": f"http://127.0.0.1:9/hooks-{tag}"}
    webhook = ok(await http.put(f"{crisis}/crisis/webhook", json=a.bodies["WebhookUpdate"], headers=admin))
    a.bodies["Resolution"] = {"outcome": "safe", "referral": "none"}
    a.bodies["Cancellation"] = {"reason": "other"}
    a.bodies["TeamUpdate"] = {"responder_ids": [a.people(Role.REGIONAL_RESPONDER)]}

    trace_id = r.headers["traceresponse"].split("-")[1]
    a.ids |= {
        "meeting_id": meeting["id"],
        "mentor_id": a.people(Role.MENTOR),
        "request_id": request["id"],
        "match_id": request["proposal"]["match_id"],
        "responder_id": a.people(Role.RESPONDER),
        "roster_id": roster_id,
        "case_id": case["id"],
        "trace_id": trace_id,
    }
    a.secrets = {
        meeting["id"],
        request["id"],
        case["id"],
        trace_id,
        on_call,
        f"focus-{tag}",
        a.bodies["Listing"]["name"],
        a.bodies["NoteCreate"]["text"],
        a.bodies["WebhookUpdate"]["url"],
        webhook["secret"],
    } | ({request["proposal"]["match_id"]} if request.get("proposal") else set())
    return a


def ok(r: httpx.Response) -> Any:
    assert r.is_success, (r.request.method, r.request.url.path, r.status_code, r.text)
    return r.json() if r.content else None


async def settled(network: Stack, a: OrganizationA, *, within: float = 30.0) -> dict[str, list[Any]]:
    """A's documents made here, in every service's database, once their events are all published
    (the outbox relay takes up to its interval) and two looks a second apart agree: what those events
    caused (escalation, notifications, webhook attempts, spans) has landed."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(network.database_url, tz_aware=True)
    try:
        last = await documents_of(client, a)
        for _ in range(int(within)):
            await asyncio.sleep(1)
            now = await documents_of(client, a)
            if now == last and not await outbox_intents_left(client):
                return now
            last = now
    finally:
        await client.close()
    raise AssertionError(f"A's documents kept changing for {within} s")


async def outbox_intents_left(client: AsyncMongoClient[dict[str, Any]]) -> int:
    """Events written and not yet published, in any service (shared.outbox)."""
    names = [n for n in await client.list_database_names() if n.startswith("rn_")]
    return sum([await client[n][INTENTS].count_documents({"at": {"$exists": True}}) for n in names])


async def documents_of(client: AsyncMongoClient[dict[str, Any]], a: OrganizationA) -> dict[str, list[Any]]:
    marks = [a.tag, *a.ids.values()]
    found: dict[str, list[Any]] = {}
    for name in await client.list_database_names():
        if not name.startswith("rn_") or name.startswith("rn_test_"):
            continue
        for collection in await client[name].list_collection_names():
            docs = await client[name][collection].find({"org": A}).to_list()
            ours = [d for d in docs if any(mark in repr(d) for mark in marks if mark != REGION)]
            if ours:
                found[f"{name}.{collection}"] = sorted(ours, key=repr)
    return found


# --- every operation, as B ---------------------------------------------------------------------


async def operations_of(http: httpx.AsyncClient, base: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    document = (await http.get(f"{base}/openapi.json")).json()
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if STREAM in operation.get("responses", {}).get("200", {}).get("content", {}):
                continue
            operation["components"] = document.get("components", {}).get("schemas", {})
            found.append((base, method.upper(), path, operation))
    return found


@dataclass
class Call:
    url: str
    body: Any
    sent: str  # what the request itself carried: A's values in it may come back without a leak


def calls(a: OrganizationA, operation: dict[str, Any], base: str, method: str, path: str) -> list[Call]:
    """One call per combination of A's ids for the path parameters (each of A's ids where the
    parameter's name is not one of A's), with A's ids in the query parameters named like them."""
    parameters = operation.get("parameters", [])
    names = [p["name"] for p in parameters if p["in"] == "path"]
    choices = [[a.ids[n]] if n in a.ids else sorted(set(a.ids.values())) for n in names]
    query = {p["name"]: a.ids[p["name"]] for p in parameters if p["in"] == "query" and p["name"] in a.ids}
    body = request_body(a, operation)
    found = []
    for values in itertools.product(*choices):
        filled = path
        for name, value in zip(names, values, strict=True):
            filled = filled.replace(f"{{{name}}}", value)
        url = str(httpx.URL(base + filled, params=query))
        found.append(Call(url, body, url + json.dumps(body)))
    return found


def request_body(a: OrganizationA, operation: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"].get("schema", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    return a.bodies.get(name) or example(schema, operation["components"])


def example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The smallest value of a JSON schema, for a body whose schema is new to this test."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "default" in schema or "enum" in schema:
        return schema.get("default", (schema.get("enum") or [None])[0])
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"), components)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: example(properties.get(k, {}), components) for k in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), components)] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return "x" * max(1, schema.get("minLength", 1))


def leaks(
    a: OrganizationA, role: Role, method: str, path: str, call: Call, r: httpx.Response, writing: bool
) -> list[str]:
    found = []
    if not writing and "{" in path:
        found.append(f"{role} of {B} read {method} {path} with A's ids: {r.status_code} {r.text[:200]}")
    shown = sorted(s for s in a.secrets if s in r.text and s not in call.sent)
    if shown:
        found.append(f"{role} of {B} was shown A's {shown} by {method} {path}")
    return found
