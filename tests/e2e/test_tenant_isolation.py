"""Tenant isolation, generated from the OpenAPI documents of the running services.

Organization A gets one of everything (a meeting, a mentor and a mentoring request, crisis staff, a
roster, a protocol, an open case with a note, a webhook, a contact, the notifications and the trace
these cause). Then every operation of every service, as its /openapi.json lists it, is called with each
role of organization B, its path parameters filled with A's ids (and A's occurrence date, A's people, A's
notifications) and its body valid for its schema. No answer may show B anything of A's, and nothing of A's
may change. Every operation's handler must have run for some role: one refused by request validation for
every role would pass unseen. A route added later is called the same way without anyone listing it.
"""

import asyncio
import datetime as dt
import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pymongo import AsyncMongoClient

from contracts.ids import new_id
from deploy.local.stack import Stack
from deploy.local.topology import SERVICES
from shared.auth.principal import Role
from shared.outbox import INTENTS
from tests.conftest import Tokens
from tests.e2e.isolation_examples import example, fits
from tests.helpers import eventually, joined

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
    ("GET", "/traces"): "a network admin searches the traces of the region's organizations",
    ("GET", "/crisis/regions/{region}/team"): "the regional crisis team is the region's, not A's",
    ("PUT", "/crisis/regions/{region}/team"): "the regional crisis team is the region's, not A's",
}
# A stream never ends, so it cannot be called like the rest: B's console stream is shown to carry
# nothing of A's by tests/services/crisis/test_console.py.
STREAM = "text/event-stream"
# Operations no role of B can get past its checks into the handler with, and why. Any other operation
# that only ever met a request-validation 422 or a role refusal was not tested, and fails the test.
UNREACHED = {
    # Granted to B's network roles, so they don't change it (above); every other role is refused.
    ("PUT", "/crisis/regions/{region}/team"): "the network roles' grant",
}


@dataclass
class OrganizationA:
    tag: str  # in every id and text of A's made here
    # Path (and query) parameter name -> A's values for it; a parameter named otherwise gets them all.
    ids: dict[str, list[str]] = field(default_factory=dict)
    # Of those, the values that are not A's alone (its org, its region, a date): nothing to look for.
    shared: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)  # values found only in A's data
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # body schema name -> a valid body

    def people(self, role: Role) -> str:
        return f"a-{role}-{self.tag}"

    def marks(self) -> list[str]:
        """What is in each of A's documents made here: the tag or one of A's own ids."""
        return [self.tag, *(v for vs in self.ids.values() for v in vs if v not in self.shared)]


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
    reached: set[tuple[str, str]] = set()  # operations whose handler ran for some role
    refused: defaultdict[tuple[str, str], set[str]] = defaultdict(set)  # the others' answers, to say why
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
                    r = await http.request(method, call.url, json=call.body, headers=headers | call.headers)
                    if before_the_handler(r):
                        refused[method, path].add(refusal(r))
                    else:
                        reached.add((method, path))
                    if r.is_success and not grant:
                        violations += leaks(a, role, method, path, call, r, writing)

    after = await settled(network, a)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not violations, "\n".join(violations)
    assert not reached & UNREACHED.keys(), f"reached now: drop from UNREACHED {reached & UNREACHED.keys()}"
    unreached = sorted({(m, p) for _, m, p, _ in operations} - reached - UNREACHED.keys())
    assert not unreached, "no role of B got past validation or the role check to the handler of:\n" + (
        "\n".join(f"{m} {p}: {sorted(refused[m, p])}" for m, p in unreached)
    )
    assert not changed, "A's documents changed while B called every route:\n" + "\n".join(
        f"{name}:\n  before {before.get(name)}\n  after  {after.get(name)}" for name in changed
    )


# --- organization A ----------------------------------------------------------------------------


async def arrange_organization_a(network: Stack, tokens: Tokens, http: httpx.AsyncClient) -> OrganizationA:
    tag = new_id()[-10:].lower()
    a = OrganizationA(tag=tag)
    admin = tokens(a.people(Role.ORG_ADMIN), A, Role.ORG_ADMIN)
    member = tokens(a.people(Role.MEMBER), A, Role.MEMBER)
    responder = tokens(a.people(Role.RESPONDER), A, Role.RESPONDER)
    on_call, roster_id = f"a-oncall-{tag}", f"a-roster-{tag}"
    meetings, mentoring = network.url("meetings"), network.url("mentoring")
    crisis, notifications = network.url("crisis"), network.url("notifications")

    a.bodies["Listing"] = {
        "name": f"A meeting {tag}",
        "day": 3,
        "time": "19:00",
        "timezone": "America/Chicago",
        "formatted_address": f"{tag} Harbor St",
    }
    meeting = ok(await http.post(f"{meetings}/meetings", json=a.bodies["Listing"], headers=admin))
    # The meeting's next Wednesday (its day 3: 0 is Sunday), a real occurrence: B's calls about it
    # reach the occurrence routes' handlers, and its check-in code is A's to keep.
    today = dt.datetime.now(ZoneInfo(a.bodies["Listing"]["timezone"])).date()
    occurrence = (today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7)).isoformat()
    url = f"{meetings}/meetings/{meeting['id']}/occurrences/{occurrence}"
    code = ok(await http.get(f"{url}/code", headers=admin))["code"]
    a.bodies["OccurrenceMove"] = {"to": f"{occurrence}T20:00:00"}
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
    # Where A reaches its on-call responder: the page for A's case goes there too.
    a.bodies["ContactUpdate"] = {"email": f"oncall-{tag}@example.org"}
    url = f"{notifications}/org/people/{on_call}/contact"
    ok(await http.put(url, json=a.bodies["ContactUpdate"], headers=admin))
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
    # The member's recovery date: B's member, whose id is A's member's, must not see it. B's own
    # (its member sets one) is another date, so that this one is found only in A's data.
    recovery = {"recovery_date": "2019-04-13", "time_zone": "America/Chicago"}
    ok(await http.put(f"{mentoring}/mentoring/me/recovery", json=recovery, headers=member))
    a.bodies["RecoveryUpdate"] = {"recovery_date": "2024-03-01", "time_zone": "UTC"}

    # Their inboxes: the on-call responder is paged for A's case, the mentor (whose id is also the
    # subject of B's mentor) and the member are told of their proposed match.
    async def inbox(person: str, role: Role) -> list[str]:
        r = await http.get(f"{notifications}/me/notifications", headers=tokens(person, A, role))
        return [n["id"] for n in ok(r)]

    notified: list[str] = []
    for person, role in (
        (on_call, Role.RESPONDER),
        (a.people(Role.MENTOR), Role.MENTOR),
        (a.people(Role.MEMBER), Role.MEMBER),
    ):
        notified += await eventually(partial(inbox, person, role))

    trace_id = r.headers["traceresponse"].split("-")[1]
    a.ids = {
        "region": [REGION],
        "org": [A],
        "meeting_id": [meeting["id"]],
        "slug": [meeting["slug"]],
        "occurrence": [occurrence],
        "date": [occurrence],
        "mentor_id": [a.people(Role.MENTOR)],
        "request_id": [request["id"]],
        "match_id": [request["proposal"]["match_id"]],
        "responder_id": [a.people(Role.RESPONDER)],
        "person_id": [on_call, a.people(Role.MEMBER)],
        "member_id": [a.people(Role.MEMBER)],
        "roster_id": [roster_id],
        "case_id": [case["id"]],
        "trace_id": [trace_id],
        "notification_id": notified,
    }
    a.shared = {REGION, A, occurrence}
    a.secrets = {
        code,
        *notified,
        a.bodies["ContactUpdate"]["email"],
        recovery["recovery_date"],
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
    marks = a.marks()
    found: dict[str, list[Any]] = {}
    for name in await client.list_database_names():
        if not name.startswith("rn_") or name.startswith("rn_test_"):
            continue
        for collection in await client[name].list_collection_names():
            docs = await client[name][collection].find({"org": A}).to_list()
            ours = [d for d in docs if any(mark in repr(d) for mark in marks)]
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
    headers: dict[str, str]  # the header parameters the operation requires
    sent: str  # what the request itself carried: A's values in it may come back without a leak
    ours: bool  # a path parameter holds one of A's values


def calls(a: OrganizationA, operation: dict[str, Any], base: str, method: str, path: str) -> list[Call]:
    """One call per combination of the values `values_of` gives the operation's parameters."""
    parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query", "header")]
    options = [values_of(a, p, operation["components"]) for p in parameters]
    ours = any(mine and p["in"] == "path" for p, (_, mine) in zip(parameters, options, strict=True))
    body = request_body(a, operation)
    found = []
    for values in itertools.product(*(values for values, _ in options)):
        given = [(p, v) for p, v in zip(parameters, values, strict=True) if v is not None]
        filled = path
        for p, v in given:
            if p["in"] == "path":
                filled = filled.replace(f"{{{p['name']}}}", v)
        url = str(httpx.URL(base + filled, params={p["name"]: v for p, v in given if p["in"] == "query"}))
        headers = {p["name"]: str(v) for p, v in given if p["in"] == "header"}
        found.append(Call(url, body, headers, url + json.dumps(body) + json.dumps(headers), ours))
    return found


def values_of(
    a: OrganizationA, parameter: dict[str, Any], components: dict[str, Any]
) -> tuple[list[Any], bool]:
    """The values to try for a parameter, and whether they are A's: for a path parameter, A's values for
    its name (or all of A's values, when it names nothing of A's); for a query parameter, A's values
    for its name. Of those, the ones its schema takes: any other earns a 422, and nothing more. A
    parameter none of A's values fits gets an example (an enum's every value) when it must be given;
    else it is left out."""
    name, schema = parameter["name"], parameter["schema"]
    everything = sorted({v for vs in a.ids.values() for v in vs})

    def fitting(pool: list[str]) -> list[str]:
        return [v for v in pool if fits(v, schema, components)]

    # Only A's values for a query parameter's own name: one of A's that came back in the answer
    # could not be told from a leak. The same name may mean something else (insights' request_id is
    # a trace's, not a mentoring request's): then none of them fits, and the parameter is left out.
    mine = fitting(a.ids.get(name, everything) if parameter["in"] == "path" else a.ids.get(name, []))
    if mine:
        return mine, True
    if parameter["in"] == "path" or parameter.get("required"):
        return schema.get("enum") or [example(schema, components)], False
    return [None], False


def request_body(a: OrganizationA, operation: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = content["application/json"].get("schema", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    return a.bodies.get(name) or example(schema, operation["components"])


def before_the_handler(r: httpx.Response) -> bool:
    """Refused by the request's validation (a 422 listing its errors: shared.http) or by the route's
    role check (shared.auth.fastapi): the operation's handler never ran. FastAPI checks roles (a
    dependency) before it validates parameters and body, so a role refused says nothing of the body.
    B's tokens are valid: a 401 comes from a handler (the console's session, the OTLP ingest token)."""
    if r.status_code not in (403, 422) or not r.headers.get("content-type", "").endswith("json"):
        return False
    problem = r.json()
    if r.status_code == 422:
        return "errors" in problem
    return str(problem.get("detail", "")).startswith("requires one of the roles")


def refusal(r: httpx.Response) -> str:
    """What a refusal before the handler said, without its instance (the URL): one line per kind."""
    problem = r.json()
    return f"{r.status_code} {problem['detail']} {[(e['loc'], e['msg']) for e in problem.get('errors', [])]}"


def leaks(
    a: OrganizationA, role: Role, method: str, path: str, call: Call, r: httpx.Response, writing: bool
) -> list[str]:
    found = []
    if not writing and call.ours:
        found.append(f"{role} of {B} read {method} {path} with A's ids: {r.status_code} {r.text[:200]}")
    shown = sorted(s for s in a.secrets if s in r.text and s not in call.sent)
    if shown:
        found.append(f"{role} of {B} was shown A's {shown} by {method} {path}")
    return found
