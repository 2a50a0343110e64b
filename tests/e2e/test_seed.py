"""`make run` seeds the demo every time: what admins changed since must survive it."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deploy.local import seed
from deploy.local.stack import REPO, Stack
from deploy.local.topology import SERVICES
from tests.helpers import joined

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_network(network: Stack) -> Iterator[Stack]:
    """The running network with the demo's organizations (deploy/local/network.json) added to it, as a
    network admin adds an organization: services re-read the network file when it changes."""
    demo = json.loads((REPO / "deploy" / "local" / "network.json").read_text())
    with joined(network.network_file, demo["regions"], demo["organizations"]):
        yield network


async def test_a_second_seed_keeps_every_change_admins_made_to_the_demo(
    demo_network: Stack, http: httpx.AsyncClient
) -> None:
    urls = {s.name: demo_network.url(s.name) for s in SERVICES}
    crisis, mentoring = urls["crisis"], urls["mentoring"]
    token = seed.tokens(demo_network.private_key)

    def as_user(sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token[sub]}"}

    async def read(url: str, sub: str) -> Any:
        answer = await http.get(url, headers=as_user(sub))
        assert answer.status_code == 200, (url, answer.text)
        return answer.json()

    await asyncio.to_thread(seed.seed, urls, demo_network.private_key)
    # Put on the staff as a regional responder first, so naming the regional team was accepted.
    lk_crisis = await read(f"{crisis}/crisis/staff/lk-crisis-1", "hh-admin")
    assert lk_crisis["roles"] == ["regional_responder"]

    changes = [
        ("rs-admin", f"{crisis}/crisis/staff/lk-crisis-2", {"roles": ["regional_responder"]}),
        ("lk-network-admin", f"{crisis}/crisis/regions/lakeshore/team", {"responder_ids": ["lk-crisis-2"]}),
        ("hh-admin", f"{crisis}/crisis/staff/hh-responder-1", {"roles": ["coordinator", "responder"]}),
        (
            "hh-admin",
            f"{crisis}/crisis/rosters/hh-oncall",
            {"responder_ids": ["hh-responder-2"], "rotation_start": "2026-01-05T09:00:00"},
        ),
        (
            "hh-admin",
            f"{crisis}/crisis/protocol",
            {"levels": [{"role": "coordinator", "timeout_minutes": 2}], "catch_all": "coordinator"},
        ),
        ("hh-admin", f"{mentoring}/mentors/hh-mentor-1", {"capacity": 1, "lived_experience": ["opioids"]}),
    ]
    for sub, url, body in changes:
        answer = await http.put(url, json=body, headers=as_user(sub))
        assert answer.status_code in (200, 204), (url, answer.text)

    await asyncio.to_thread(seed.seed, urls, demo_network.private_key)

    team = await read(f"{crisis}/crisis/regions/lakeshore/team", "lk-network-admin")
    assert team["responder_ids"] == ["lk-crisis-2"]
    staff = await read(f"{crisis}/crisis/staff/hh-responder-1", "hh-admin")
    assert staff["roles"] == ["coordinator", "responder"]
    for week in ("2026-12-01T12:00:00Z", "2026-12-08T12:00:00Z"):
        on_call = await http.get(
            f"{crisis}/crisis/rosters/hh-oncall/on-call", params={"at": week}, headers=as_user("hh-admin")
        )
        assert on_call.json()["responder_id"] == "hh-responder-2", week
    protocol = await read(f"{crisis}/crisis/protocol", "hh-admin")
    assert [(lv["role"], lv["timeout_minutes"]) for lv in protocol["levels"]] == [("coordinator", 2)]
    assert protocol["catch_all"] == "coordinator"
    mentor = await read(f"{mentoring}/mentors/hh-mentor-1", "hh-admin")
    assert (mentor["capacity"], mentor["lived_experience"]) == (1, ["opioids"])
    page = (await http.get(f"{urls['meetings']}/directory/meetings", params={"limit": 100})).json()
    names = [m["name"] for m in page["items"] if m["org"] == "harbor-house"]
    assert sorted(names) == sorted(str(m["name"]) for m in seed.MEETINGS)  # each once, after two seeds
