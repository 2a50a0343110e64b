"""Attendance across processes: a facilitator shows the code, members check in with it, and the record,
its event and the member's proof follow; another organization sees nobody."""

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from pymongo import AsyncMongoClient

from contracts.ids import new_id
from deploy.local.stack import Stack
from services.meetings import store as meetings_store
from services.meetings.attendance import model, store
from shared.auth.principal import Role
from shared.outbox import with_outbox
from tests.conftest import Tokens
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def happening_now(name: str, started: timedelta) -> dict[str, Any]:
    """A weekly meeting in UTC whose occurrence today started `started` ago."""
    start = datetime.now(UTC) - started
    return {
        "name": name,
        "day": (start.weekday() + 1) % 7,  # Meeting Guide days count from Sunday = 0
        "time": start.strftime("%H:%M"),
        "end_time": (start + timedelta(hours=1)).strftime("%H:%M"),
        "timezone": "UTC",
        "formatted_address": "1 Harbor St, Lakeshore",
    }


@pytest.fixture
async def recorded(admin_nc: NatsClient) -> AsyncIterator[list[dict[str, Any]]]:
    """Every AttendanceRecorded of org-a stored in the MEETINGS stream from now on."""
    seen: list[dict[str, Any]] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(json.loads(msg.data))

    sub = await admin_nc.jetstream().subscribe(
        "rn.org-a.meetings.attendance_recorded.v1",
        stream="MEETINGS",
        cb=on_msg,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    yield seen
    await sub.unsubscribe()


async def test_a_member_checks_in_with_the_code_the_facilitator_shows_and_downloads_the_proof(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient, recorded: list[dict[str, Any]]
) -> None:
    base = network.url("meetings")
    tag = new_id()[-8:]
    admin = tokens(f"admin-{tag}", "org-a", Role.ORG_ADMIN)
    facilitator = tokens(f"coord-{tag}", "org-a", Role.COORDINATOR)
    member_id = f"member-{tag}"
    member = tokens(member_id, "org-a", Role.MEMBER)
    meeting = await schedule(http, base, admin, happening_now(f"Harbor Hope {tag}", timedelta(minutes=5)))
    today = (datetime.now(UTC) - timedelta(minutes=5)).date()
    occurrence = f"{base}/meetings/{meeting['id']}/occurrences/{today.isoformat()}"
    check_ins = f"{base}/attendance/check-ins"

    r = await http.get(f"{occurrence}/code", headers=facilitator)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["open_now"] and len(shown["code"]) == 6
    assert (await http.get(f"{occurrence}/code", headers=member)).status_code == 403

    check_in = {"meeting_id": meeting["id"], "code": shown["code"].lower()}
    r = await http.post(check_ins, json=check_in, headers=member)
    assert r.status_code == 201, r.text
    assert (r.json()["occurrence"], r.json()["method"]) == (today.isoformat(), "code")
    r = await http.post(check_ins, json=check_in, headers=member)
    assert (r.status_code, r.json()["already_recorded"]) == (200, True)

    # Last week's code is another occurrence's; a code of a meeting that is not on now is refused too.
    last_week = today - timedelta(weeks=1)
    code = await code_of(http, base, facilitator, meeting["id"], last_week)
    r = await http.post(check_ins, json={**check_in, "code": code}, headers=member)
    assert r.status_code == 422 and last_week.isoformat() in r.json()["detail"]
    later = await schedule(http, base, admin, happening_now(f"Later {tag}", timedelta(hours=-5)))
    code = await code_of(
        http, base, facilitator, later["id"], (datetime.now(UTC) + timedelta(hours=5)).date()
    )
    r = await http.post(check_ins, json={"meeting_id": later["id"], "code": code}, headers=member)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"

    # Codes cannot be guessed: after five wrong ones a member waits, even with the right code.
    guesser = tokens(f"guesser-{tag}", "org-a", Role.MEMBER)
    for n in range(5):
        r = await http.post(check_ins, json={**check_in, "code": f"WRONG{n}"}, headers=guesser)
        assert r.status_code == 422, r.text
    r = await http.post(check_ins, json=check_in, headers=guesser)
    assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
    assert 0 < int(r.headers["retry-after"]) <= 15 * 60

    # A member of another organization may attend; its facilitator sees them only as a number.
    outsider = tokens(f"guest-{tag}", "org-b", Role.MEMBER)
    r = await http.post(check_ins, json=check_in, headers=outsider)
    assert r.status_code == 201, r.text
    r = await http.put(f"{occurrence}/attendance/member2-{tag}", headers=facilitator)
    assert (r.status_code, r.json()["method"]) == (201, "facilitator")
    # A member id is a token's sub, never an e-mail address (which would end up in logs).
    r = await http.put(f"{occurrence}/attendance/someone@example.org", headers=facilitator)
    assert r.status_code == 422
    roll = (await http.get(f"{occurrence}/attendance", headers=facilitator)).json()
    assert sorted(m["member_id"] for m in roll["members"]) == [member_id, f"member2-{tag}"]
    assert (roll["members_of_other_organizations"], roll["total"]) == (1, 3)
    assert f"guest-{tag}" not in json.dumps(roll)
    other_admin = tokens(f"admin-{tag}", "org-b", Role.ORG_ADMIN)
    for path in ("/attendance", "/code"):
        assert (await http.get(f"{occurrence}{path}", headers=other_admin)).status_code == 404

    mine = (await http.get(f"{base}/me/attendance", headers=member)).json()
    assert (mine["total"], mine["current_streak_weeks"]) == (1, 1)
    assert mine["items"][0]["name"] == f"Harbor Hope {tag}"
    r = await http.get(f"{base}/me/attendance.csv", headers=member)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert ["Member", member_id] in rows and ["Organization", "Organization A (org-a)"] in rows
    assert rows[-1][:3] == [f"Harbor Hope {tag}", today.isoformat(), meeting["time"]]
    page = await http.get(f"{base}/me/attendance/proof", headers=member)
    assert page.status_code == 200 and f"Harbor Hope {tag}" in page.text
    guest = (await http.get(f"{base}/me/attendance", headers=outsider)).json()
    assert guest["org"] == "org-b" and guest["items"][0]["meeting_org"] == "org-a"

    # One event per attendance in the member's organization: the repeated check-in announced nothing.
    def announced() -> list[str]:
        return sorted(e["data"]["member_id"] for e in recorded if e["data"]["member_id"].endswith(tag))

    async def both() -> bool:
        return len(announced()) >= 2

    await eventually(both)
    await asyncio.sleep(0.5)  # time for a second copy to arrive, were there one
    assert announced() == [member_id, f"member2-{tag}"]


async def schedule(http: httpx.AsyncClient, base: str, admin: dict[str, str], listing: dict[str, Any]) -> Any:
    r = await http.post(f"{base}/meetings", json=listing, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


async def code_of(
    http: httpx.AsyncClient, base: str, facilitator: dict[str, str], meeting_id: str, day: date
) -> str:
    r = await http.get(
        f"{base}/meetings/{meeting_id}/occurrences/{day.isoformat()}/code", headers=facilitator
    )
    assert r.status_code == 200, r.text
    return str(r.json()["code"])


async def test_an_attendance_whose_writer_died_before_the_history_reaches_the_history(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient
) -> None:
    """The record and its event were written and published; the history write never happened (the
    process died in between). Meetings' own subscriber to the event adds it to the history."""
    base = network.url("meetings")
    tag = new_id()[-8:]
    admin = tokens(f"admin-{tag}", "org-a", Role.ORG_ADMIN)
    member_id = f"member-{tag}"
    member = tokens(member_id, "org-a", Role.MEMBER)
    meeting = await schedule(http, base, admin, happening_now(f"Harbor Crash {tag}", timedelta(minutes=5)))

    settings = network.settings("meetings")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(network.database_url, tz_aware=True)
    try:
        db = client[settings.database_name]
        listed = meetings_store.from_doc(await meetings_store.meeting_doc(db, meeting["id"]) or {})
        now = datetime.now(UTC)
        occurrence = model.open_occurrence(
            listed, now, model.CheckinRules("", timedelta(0), timedelta(hours=1))
        )
        assert occurrence is not None
        attended = model.attended(listed, occurrence, "code", now)
        key = model.record_key("org-a", member_id, listed.id, occurrence.date)
        event = model.recorded_event("org-a", member_id, attended)
        await store.records(db).insert_one(
            with_outbox(store.record_doc(key, "org-a", member_id, attended), [event])
        )
    finally:
        await client.close()
    await admin_nc.jetstream().publish(
        event.nats_subject(),
        event.model_dump_json().encode(),
        stream="MEETINGS",
        headers={"Nats-Msg-Id": event.id, "content-type": "application/json"},
    )

    async def in_history() -> bool:
        r = await http.get(f"{base}/me/attendance", headers=member)
        return bool(r.json()["total"] == 1)

    await eventually(in_history)
