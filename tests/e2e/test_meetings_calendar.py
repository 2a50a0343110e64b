"""A meeting's calendar over HTTP, as a phone that subscribes to it reads it."""

import datetime as dt
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
import recurring_ical_events  # type: ignore[import-untyped]

from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

CHICAGO = ZoneInfo("America/Chicago")
MEETING = {
    "name": "Sunday Calendar Serenity",
    "day": 0,
    "time": "19:00",
    "end_time": "20:00",
    "timezone": "America/Chicago",
    "formatted_address": "1 Main St, Lakeshore",
    "conference_url": "https://zoom.us/j/555",
}


async def test_a_subscribed_phone_gets_the_meeting_without_its_cancelled_occurrence(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    base = network.url("meetings")
    admin = tokens("admin-a", "org-a", Role.ORG_ADMIN)
    r = await http.post(f"{base}/meetings", json=MEETING, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    today = dt.datetime.now(CHICAGO).date()
    sundays = [today + dt.timedelta(days=(6 - today.weekday()) % 7 + 7 * n) for n in range(1, 5)]
    cancelled = sundays[1]
    r = await http.post(f"{base}/meetings/{created['id']}/occurrences/{cancelled}/cancel", headers=admin)
    assert r.status_code == 200, r.text

    r = await http.get(f"{base}/directory/meetings/{created['slug']}/calendar.ics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert f'filename="{created["slug"]}.ics"' in r.headers["content-disposition"]
    cal = icalendar.Calendar.from_ical(r.content)
    assert [e.uid for e in cal.events] == [f"{created['id']}@recovery.network"]
    start = dt.datetime.combine(sundays[0], dt.time(0), tzinfo=CHICAGO)
    shown = recurring_ical_events.of(cal).between(start, start + dt.timedelta(days=28))
    local = [e.start.astimezone(CHICAGO) for e in shown]
    assert [s.date() for s in local] == [d for d in sundays if d != cancelled]
    assert {s.time() for s in local} == {dt.time(19, 0)}

    # The organization's calendar lists it; an unknown meeting or organization is a problem, not a calendar.
    r = await http.get(f"{base}/feeds/org-a/calendar.ics")
    assert r.status_code == 200 and created["id"] in r.text
    for missing in ("/directory/meetings/no-such-meeting/calendar.ics", "/feeds/no-such-org/calendar.ics"):
        r = await http.get(f"{base}{missing}")
        assert (r.status_code, r.headers["content-type"]) == (404, "application/problem+json")

    # A directory search as a calendar, once the directory has the meeting.
    async def searched() -> bool:
        r = await http.get(f"{base}/directory/calendar.ics", params={"q": "Calendar Serenity", "day": 0})
        return r.status_code == 200 and created["id"] in r.text

    await eventually(searched)
