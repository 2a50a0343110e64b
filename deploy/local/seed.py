"""The demo network: two organizations of one region, their people, meetings, roster and protocol.

Idempotent: a second run finds what the first one made and adds nothing twice.
"""

from dataclasses import dataclass
from pathlib import Path

import httpx

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
    },
    "riverside": {"rs-admin": ["coordinator", "responder"]},
}
ADMINS = {"harbor-house": "hh-admin", "riverside": "rs-admin"}

MEETINGS = (
    {
        "name": "Monday Night Hope",
        "day": 1,
        "time": "19:00",
        "end_time": "20:00",
        "timezone": "America/Chicago",
        "types": ["O", "D", "BE"],
        "formatted_address": "12 Harbor St, Lakeshore, IL 60601, USA",
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
)


def tokens(private_key: Path) -> dict[str, str]:
    return {
        u.sub: mint_token(private_key, sub=u.sub, org=u.org, roles=list(u.roles), regions=list(u.regions))
        for u in USERS
    }


def seed(urls: dict[str, str], private_key: Path) -> dict[str, str]:
    """Create what is missing; returns the dev token of every demo user."""
    tok = tokens(private_key)

    def auth(sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tok[sub]}"}

    with httpx.Client(timeout=10.0) as http:
        existing = {
            m["name"]
            for m in http.get(f"{urls['meetings']}/meetings").raise_for_status().json()
            if m["org"] == "harbor-house"
        }
        for meeting in MEETINGS:
            if meeting["name"] not in existing:
                http.post(
                    f"{urls['meetings']}/meetings", json=meeting, headers=auth("hh-admin")
                ).raise_for_status()
        crisis = urls["crisis"]
        for org, people in CRISIS_STAFF.items():
            for person, roles in people.items():
                http.put(
                    f"{crisis}/crisis/staff/{person}", json={"roles": roles}, headers=auth(ADMINS[org])
                ).raise_for_status()
        http.put(
            f"{crisis}/crisis/regions/lakeshore/team",
            json={"responder_ids": ["lk-crisis-1"]},
            headers=auth("lk-network-admin"),
        ).raise_for_status()
        http.put(
            f"{crisis}/crisis/rosters/hh-oncall",
            json={
                "responder_ids": ["hh-responder-1", "hh-responder-2"],
                "rotation_start": "2026-01-05T09:00:00",
            },
            headers=auth("hh-admin"),
        ).raise_for_status()
        http.put(
            f"{crisis}/crisis/protocol",
            json={
                "levels": [
                    {"roster_id": "hh-oncall", "timeout_minutes": 5},
                    {"role": "coordinator", "timeout_minutes": 10},
                ],
                "repeats": 1,
                "catch_all": "regional_team",
            },
            headers=auth("hh-admin"),
        ).raise_for_status()
        http.put(
            f"{crisis}/crisis/rosters/rs-oncall",
            json={"responder_ids": ["rs-admin"], "rotation_start": "2026-01-05T09:00:00"},
            headers=auth("rs-admin"),
        ).raise_for_status()
        http.put(
            f"{crisis}/crisis/protocol",
            json={"levels": [{"roster_id": "rs-oncall"}], "catch_all": "coordinator"},
            headers=auth("rs-admin"),
        ).raise_for_status()
        http.put(
            f"{urls['mentoring']}/mentors/hh-mentor-1",
            json={"capacity": 3, "languages": ["en", "es"], "focus": ["alcohol", "family"]},
            headers=auth("hh-admin"),
        ).raise_for_status()
    return tok
