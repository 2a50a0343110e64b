"""The meetings flows across processes (mentoring has its own: test_mentoring.py)."""

import json

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens

pytestmark = pytest.mark.e2e

MEETING = {
    "name": "Tuesday Serenity",
    "day": 2,
    "time": "18:30",
    "timezone": "America/Chicago",
    "types": ["O", "D", "LOCAL-1"],
    "formatted_address": "1 Main St, Lakeshore",
}


async def test_an_org_admin_schedules_changes_and_cancels_a_meeting(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient
) -> None:
    url = f"{network.url('meetings')}/meetings"
    admin = tokens("admin-a", "org-a", Role.ORG_ADMIN)
    r = await http.post(url, json=MEETING, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["org"], created["time"], created["unknown_types"]) == ("org-a", "18:30", ["LOCAL-1"])
    assert (created["slug"], created["attendance_option"]) == ("tuesday-serenity", "in_person")
    # The same name again: the slug stays unique across the network, with a suffix.
    again = (await http.post(url, json=MEETING, headers=tokens("admin-b", "org-b", Role.ORG_ADMIN))).json()
    assert again["slug"] == "tuesday-serenity-2"

    changed = {**MEETING, "time": "19:00", "conference_url": "https://zoom.us/j/123"}
    r = await http.put(f"{url}/{created['id']}", json=changed, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["time"], r.json()["attendance_option"]) == ("19:00", "hybrid")
    r = await http.post(f"{url}/{created['id']}/cancel", headers=admin)
    assert r.json()["status"] == "cancelled"
    assert (await http.put(f"{url}/{created['id']}", json=MEETING, headers=admin)).status_code == 409
    # Another organization's admin does not find it.
    other = tokens("admin-b", "org-b", Role.ORG_ADMIN)
    assert (await http.get(f"{url}/{created['id']}", headers=other)).status_code == 404

    js = admin_nc.jetstream()
    for subject, kind in (
        ("scheduled.v2", "meetings.scheduled.v2"),
        ("cancelled.v1", "meetings.cancelled.v1"),
    ):
        stored = await js.get_last_msg("MEETINGS", f"rn.org-a.meetings.{subject}")
        event = json.loads(stored.data or b"")
        assert (event["type"], event["data"]["meeting_id"]) == (kind, created["id"])
    changed_event = json.loads(
        (await js.get_last_msg("MEETINGS", "rn.org-a.meetings.changed.v1")).data or b""
    )
    assert changed_event["data"]["changed"] == ["time", "conference_url"]


async def test_meeting_input_errors_are_problem_details(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = f"{network.url('meetings')}/meetings"
    admin = tokens("admin-a", "org-a", Role.ORG_ADMIN)
    for bad in (
        {**MEETING, "day": 7},
        {**MEETING, "time": "25:00"},
        {**MEETING, "timezone": "Mars/Olympus"},
        {**MEETING, "formatted_address": None},
        {**MEETING, "org": "org-b"},
        {**MEETING, "time": 12345},  # JSON types are taken as they are: no seconds since midnight
        {**MEETING, "day": True},
        {**MEETING, "day": "2"},
        {**MEETING, "name": "Tuesday\x00Serenity"},
    ):
        r = await http.post(url, json=bad, headers=admin)
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 422 and r.json()["errors"]
    r = await http.post(url, json=MEETING, headers=tokens("m", "org-a", Role.MEMBER))
    assert r.status_code == 403 and r.json()["title"] == "Forbidden"


async def test_each_event_service_serves_its_asyncapi_document(
    network: Stack, http: httpx.AsyncClient
) -> None:
    r = await http.get(f"{network.url('notifications')}/asyncapi.json")
    addresses = {c["address"] for c in r.json()["channels"].values()}
    assert {"rn.*.crisis.escalated.v1", "rn.{org}.notifications.delivered.v2"} <= addresses
    page = await http.get(f"{network.url('crisis')}/asyncapi/", follow_redirects=True)
    assert page.status_code == 200 and "html" in page.headers["content-type"]
