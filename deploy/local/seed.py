"""The demo network: two organizations of one region, their people, meetings, roster and protocol.

Seeds only what is missing and never changes what exists: every `make run` seeds, and an admin's
changes to the demo (protocols, rosters, staff, mentor capacity, the regional team) must survive it.
Each document is read first (GET) and written (PUT) only when the read says it is not there.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.meetings.model import slug_base
from shared.auth.devkeys import mint_token
from shared.auth.principal import Role


@dataclass(frozen=True)
class DemoUser:
    sub: str
    org: str
    roles: tuple[Role, ...]
    label: str
    regions: tuple[str, ...] = ()


USERS = (
    DemoUser("hh-admin", "harbor-house", (Role.ORG_ADMIN,), "Harbor House org admin"),
    DemoUser(
        "hh-coordinator",
        "harbor-house",
        (Role.COORDINATOR, Role.RESPONDER),
        "Harbor House crisis coordinator",
    ),
    DemoUser(
        "hh-responder-1", "harbor-house", (Role.RESPONDER,), "Harbor House responder (on call in odd weeks)"
    ),
    DemoUser(
        "hh-responder-2", "harbor-house", (Role.RESPONDER,), "Harbor House responder (on call in even weeks)"
    ),
    DemoUser("hh-mentor-1", "harbor-house", (Role.MENTOR,), "Harbor House mentor"),
    DemoUser("hh-member-1", "harbor-house", (Role.MEMBER,), "Harbor House member"),
    DemoUser("rs-admin", "riverside", (Role.ORG_ADMIN,), "Riverside org admin"),
    DemoUser("rs-member-1", "riverside", (Role.MEMBER,), "Riverside member"),
    DemoUser(
        "lk-network-admin", "harbor-house", (Role.NETWORK_ADMIN,), "Lakeshore network admin", ("lakeshore",)
    ),
    DemoUser(
        "lk-crisis-1",
        "harbor-house",
        (Role.REGIONAL_RESPONDER,),
        "Lakeshore regional crisis team",
        ("lakeshore",),
    ),
)
# Who each organization's crisis protocol can reach: responders, and coordinators for the catch-all.
CRISIS_STAFF = {
    "harbor-house": {
        "hh-coordinator": ["coordinator", "responder"],
        "hh-responder-1": ["responder"],
        "hh-responder-2": ["responder"],
        # The regional team may name only regional responders on the staff of one of the region's orgs.
        "lk-crisis-1": ["regional_responder"],
    },
    "riverside": {"rs-admin": ["coordinator", "responder"]},
}
ADMINS = {"harbor-house": "hh-admin", "riverside": "rs-admin"}
# The clinical partners a responder can hand a person over to (a warm handoff names one).
PARTNERS = {
    "harbor-house": {
        "lakeshore-clinic": "Lakeshore Community Clinic",
        "harbor-peer-line": "Harbor Peer Line",
    },
    "riverside": {"riverside-health": "Riverside Behavioral Health"},
}

MEETINGS = (
    {
        "name": "Monday Night Hope",
        "day": 1,
        "time": "19:00",
        "end_time": "20:00",
        "timezone": "America/Chicago",
        "types": ["O", "D", "BE"],
        "formatted_address": "12 Harbor St, Lakeshore, IL 60601, USA",
        "latitude": 41.8781,
        "longitude": -87.6298,
        "region": "Lakeshore",
    },
    {
        "name": "Sunrise Online",
        "day": 3,
        "time": "07:00",
        "end_time": "08:00",
        "timezone": "America/Chicago",
        "types": ["O", "MED"],
        "conference_url": "https://meet.example.org/sunrise",
    },
    {
        "name": "First Sunday Speaker Meeting",
        "monthly": [{"nth": 1, "day": 0}],
        "time": "17:00",
        "timezone": "America/Chicago",
        "types": ["O", "SP"],
        "formatted_address": "40 River Rd, Lakeshore, IL 60602, USA",
        "latitude": 41.8853,
        "longitude": -87.6216,
        "region": "Lakeshore",
        "conference_url": "https://meet.example.org/speaker",
    },
    {
        "name": "Reunion de Esperanza",
        "day": [2, 4],
        "time": "20:00",
        "timezone": "America/Chicago",
        "types": ["O", "S"],
        "formatted_address": "12 Harbor St, Lakeshore, IL 60601, USA",
        "latitude": 41.8781,
        "longitude": -87.6298,
        "region": "Lakeshore",
    },
)


def tokens(private_key: Path) -> dict[str, str]:
    return {
        u.sub: mint_token(private_key, sub=u.sub, org=u.org, roles=list(u.roles), regions=list(u.regions))
        for u in USERS
    }


@dataclass(frozen=True)
class DemoDocument:
    """One demo document: read at `read`; only when `missing` says so, PUT `body` to `write` as `user`."""

    read: str
    write: str
    body: dict[str, Any]
    user: str
    missing: Callable[[httpx.Response], bool]


def not_found(answer: httpx.Response) -> bool:
    if answer.status_code == 404:
        return True
    answer.raise_for_status()
    return False


def partner_missing(partner_id: str) -> Callable[[httpx.Response], bool]:
    """Partners are read as the organization's list; one is missing when the list does not name it."""

    def missing(answer: httpx.Response) -> bool:
        return partner_id not in {p["partner_id"] for p in answer.raise_for_status().json()}

    return missing


def no_team(answer: httpx.Response) -> bool:
    """A region's team reads as an empty list until someone names it."""
    return not answer.raise_for_status().json()["responder_ids"]


def documents(crisis: str, mentoring: str) -> list[DemoDocument]:
    """In an order each can be written in: staff, then the team and rosters naming them, then protocols."""
    staff = [
        DemoDocument(
            f"{crisis}/crisis/staff/{person}",
            f"{crisis}/crisis/staff/{person}",
            {"roles": roles},
            ADMINS[org],
            not_found,
        )
        for org, people in CRISIS_STAFF.items()
        for person, roles in people.items()
    ]
    partners = [
        DemoDocument(
            f"{crisis}/crisis/partners",
            f"{crisis}/crisis/partners/{partner}",
            {"name": name},
            ADMINS[org],
            partner_missing(partner),
        )
        for org, named in PARTNERS.items()
        for partner, name in named.items()
    ]
    team = f"{crisis}/crisis/regions/lakeshore/team"
    return [
        *staff,
        *partners,
        DemoDocument(team, team, {"responder_ids": ["lk-crisis-1"]}, "lk-network-admin", no_team),
        roster(crisis, "hh-oncall", ["hh-responder-1", "hh-responder-2"], "hh-admin"),
        protocol(
            crisis,
            "hh-admin",
            {
                "levels": [
                    {"roster_id": "hh-oncall", "timeout_minutes": 5},
                    {"role": "coordinator", "timeout_minutes": 10},
                ],
                "repeats": 1,
                "catch_all": "regional_team",
            },
        ),
        roster(crisis, "rs-oncall", ["rs-admin"], "rs-admin"),
        protocol(crisis, "rs-admin", {"levels": [{"roster_id": "rs-oncall"}], "catch_all": "coordinator"}),
        DemoDocument(
            f"{mentoring}/mentors/hh-mentor-1",
            f"{mentoring}/mentors/hh-mentor-1",
            {
                "capacity": 3,
                "languages": ["en", "es"],
                "pathways": ["12_step", "mar_friendly"],
                "lived_experience": ["alcohol", "family"],
            },
            "hh-admin",
            not_found,
        ),
    ]


def roster(crisis: str, roster_id: str, responder_ids: list[str], admin: str) -> DemoDocument:
    # A roster has no GET of its own; who is on call now answers 404 just when the roster is missing.
    return DemoDocument(
        f"{crisis}/crisis/rosters/{roster_id}/on-call",
        f"{crisis}/crisis/rosters/{roster_id}",
        {"responder_ids": responder_ids, "rotation_start": "2026-01-05T09:00:00"},
        admin,
        not_found,
    )


def protocol(crisis: str, admin: str, body: dict[str, Any]) -> DemoDocument:
    return DemoDocument(f"{crisis}/crisis/protocol", f"{crisis}/crisis/protocol", body, admin, not_found)


def seed(urls: dict[str, str], private_key: Path) -> dict[str, str]:
    """Create what is missing, change nothing that exists; returns the dev token of every demo user."""
    tok = tokens(private_key)

    def auth(sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tok[sub]}"}

    created = 0
    with httpx.Client(timeout=10.0) as http:
        for meeting in MEETINGS:
            # A demo meeting is found by the slug its name gives (unique across the network).
            slug = slug_base(str(meeting["name"]))
            if http.get(f"{urls['meetings']}/directory/meetings/{slug}").status_code == 404:
                http.post(
                    f"{urls['meetings']}/meetings", json=meeting, headers=auth("hh-admin")
                ).raise_for_status()
                created += 1
        for doc in documents(urls["crisis"], urls["mentoring"]):
            if doc.missing(http.get(doc.read, headers=auth(doc.user))):
                http.put(doc.write, json=doc.body, headers=auth(doc.user)).raise_for_status()
                created += 1
    print(f"demo network: {created} missing document(s) created; what was there is kept", flush=True)
    return tok
