"""The public directory across processes: it follows every change of a meeting, and the members who
saved a meeting hear when it changes or is cancelled."""

from typing import Any

import httpx
import pytest

from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def listing(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "day": [1, 4],
        "time": "18:30",
        "timezone": "America/Chicago",
        "types": ["O", "EN"],
        "formatted_address": "12 Harbor St, Lakeshore, IL 60601, USA",
        "latitude": 41.8781,
        "longitude": -87.6298,
        **fields,
    }


async def test_the_directory_follows_a_meeting_from_scheduled_to_changed_to_cancelled(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base = network.url("meetings")
    admin = tokens("admin-a", "org-a", Role.ORG_ADMIN)
    tag = new_id()[-8:]
    created = (await http.post(f"{base}/meetings", json=listing(f"Directory {tag}"), headers=admin)).json()

    async def search(**params: Any) -> dict[str, Any]:
        r = await http.get(f"{base}/directory/meetings", params={"q": tag, **params})
        assert r.status_code == 200, r.text
        page: dict[str, Any] = r.json()
        return page

    async def found(**params: Any) -> list[str]:
        return [m["id"] for m in (await search(**params))["items"]]

    async def listed() -> dict[str, Any] | None:
        page = await search(latitude=41.88, longitude=-87.63, radius_km=5)
        return page["items"][0] if page["total"] else None

    item = await eventually(listed)
    assert (item["id"], item["org"], item["org_name"]) == (created["id"], "org-a", "Organization A")
    assert item["distance_km"] < 1 and item["next_start"] and item["attendance_option"] == "in_person"
    assert await found(types=["O", "EN"], day=4) == [created["id"]]
    assert await found(day=2) == []

    r = await http.put(
        f"{base}/meetings/{created['id']}",
        json=listing(f"Directory {tag}", types=["C"], conference_url="https://zoom.us/j/9"),
        headers=admin,
    )
    assert r.status_code == 200, r.text

    async def changed() -> bool:
        return await found(types=["C"], attendance=["hybrid"]) == [created["id"]]

    await eventually(changed)
    assert await found(types=["O"]) == []

    detail = (await http.get(f"{base}/directory/meetings/{created['slug']}")).json()
    assert len(detail["upcoming"]) == 8 and detail["org_name"] == "Organization A"
    await http.post(f"{base}/meetings/{created['id']}/cancel", headers=admin)

    async def gone() -> bool:
        return (await search())["total"] == 0

    await eventually(gone)
    detail = (await http.get(f"{base}/directory/meetings/{created['slug']}")).json()
    assert detail["status"] == "cancelled"


async def test_the_members_who_saved_a_meeting_hear_when_an_occurrence_and_then_the_meeting_is_cancelled(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base, notifications = network.url("meetings"), network.url("notifications")
    admin = tokens("admin-a", "org-a", Role.ORG_ADMIN)
    tag = new_id()[-8:]
    saver, bystander = (
        tokens(f"saver-{tag}", "org-a", Role.MEMBER),
        tokens(f"other-{tag}", "org-a", Role.MEMBER),
    )
    meeting = (await http.post(f"{base}/meetings", json=listing(f"Saved {tag}"), headers=admin)).json()
    r = await http.put(f"{base}/me/saved-meetings/{meeting['id']}", headers=saver)
    assert r.status_code == 204, r.text
    assert [m["id"] for m in (await http.get(f"{base}/me/saved-meetings", headers=saver)).json()] == [
        meeting["id"]
    ]
    # Another organization's member cannot save it (it is not theirs to follow), nor find it by id.
    outsider = tokens(f"outsider-{tag}", "org-b", Role.MEMBER)
    assert (await http.put(f"{base}/me/saved-meetings/{meeting['id']}", headers=outsider)).status_code == 404

    detail = (await http.get(f"{base}/directory/meetings/{meeting['slug']}")).json()
    first = detail["upcoming"][0]["date"]
    r = await http.post(f"{base}/meetings/{meeting['id']}/occurrences/{first}/cancel", headers=admin)
    assert r.status_code == 200 and r.json()["cancelled_occurrences"] == [first]
    for no_occurrence in ("2000-01-01", "9999-12-31", "0001-01-01"):
        url = f"{base}/meetings/{meeting['id']}/occurrences/{no_occurrence}/cancel"
        r = await http.post(url, headers=admin)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", no_occurrence
    await http.post(f"{base}/meetings/{meeting['id']}/cancel", headers=admin)

    async def inbox() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (
            await http.get(f"{notifications}/me/notifications", headers=saver)
        ).json()
        return items if len(items) >= 2 else None

    items = await eventually(inbox)
    assert sorted(n["title"] for n in items) == sorted(
        [f"Saved {tag} is cancelled", next(n["title"] for n in items if " on " in n["title"])]
    )
    assert {n["category"] for n in items} == {"meetings"}
    assert all(n["link"].endswith(f"/find/{meeting['slug']}") for n in items)
    assert (await http.get(f"{notifications}/me/notifications", headers=bystander)).json() == []


async def test_bad_search_parameters_are_problem_details(network: Stack, http: httpx.AsyncClient) -> None:
    url = f"{network.url('meetings')}/directory/meetings"
    for bad in (
        {"time_from": "25:00"},
        {"time_to": "00:00:00Z"},  # an offset: was a 500 once the directory held a meeting
        {"tz": "Mars/Olympus"},
        {"latitude": 41.8},
        {"day": 7},
        {"starting_within_hours": 1000},
        {"attendance": "teleport"},
        {"q": "x" * 101},
    ):
        r = await http.get(url, params=bad)
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == "application/problem+json", bad
    assert (await http.get(f"{url}/no-such-meeting-{new_id()[-6:]}")).status_code == 404
