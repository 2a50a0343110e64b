"""The directory's pages: what they say in words, and what they answer over HTTP (the pages' router on a
small app whose directory and slugs are in memory; the whole stack is in tests/e2e/test_directory_page.py)."""

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.meetings import store
from services.meetings.directory import Directory
from services.meetings.model import Listing, Meeting
from services.meetings.pages import api as pages_api
from services.meetings.pages import model
from shared.http import install_problem_handlers
from shared.network import NetworkFile

NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)  # a Wednesday


def listing(**fields: object) -> Listing:
    base: dict[str, object] = {"name": "Hope", "day": 2, "time": "18:30", "timezone": "America/Chicago"}
    return Listing.model_validate({"formatted_address": "1 Main St, Lakeshore", **base, **fields})


# --- in words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"day": [2, 4]}, "Tuesdays and Thursdays at 18:30 (America/Chicago)"),
        (
            {"day": [1, 3, 5], "end_time": "19:30"},
            "Mondays, Wednesdays and Fridays at 18:30 to 19:30 (America/Chicago)",
        ),
        ({"day": [0, 1, 2, 3, 4, 5, 6]}, "Every day at 18:30 (America/Chicago)"),
        ({"day": [1, 2, 3, 4, 5]}, "Mondays to Fridays at 18:30 (America/Chicago)"),
        (
            {"day": None, "monthly": [{"nth": 1, "day": 0}]},
            "First Sunday of the month at 18:30 (America/Chicago)",
        ),
        (
            {"day": None, "monthly": [{"nth": 1, "day": 0}, {"nth": -1, "day": 5}]},
            "First Sunday and last Friday of the month at 18:30 (America/Chicago)",
        ),
        ({"day": None, "dates": ["2027-01-14"]}, "On 14 January 2027 at 18:30 (America/Chicago)"),
        (
            {"day": None, "dates": ["2027-03-01", "2027-01-14", "2027-02-01", "2027-04-01", "2027-05-01"]},
            "On 14 January 2027, 1 February 2027, 1 March 2027 and 2 more dates at 18:30 (America/Chicago)",
        ),
        (
            {"day": 2, "monthly": [{"nth": 3, "day": 6}]},
            "Tuesdays; also third Saturday of the month at 18:30 (America/Chicago)",
        ),
    ],
)
def test_a_schedule_is_said_in_words_with_the_meetings_own_zone(
    fields: dict[str, object], words: str
) -> None:
    assert model.schedule_in_words(listing(**fields)) == words


def test_type_codes_are_named_from_the_meeting_guide_list_and_unknown_ones_kept_as_written() -> None:
    assert model.type_name("O") == "Open"
    assert model.type_name("ASL") == "American Sign Language"
    assert model.type_name("local-1") == "local-1"
    assert model.choices(["W", "O"]) == [("O", "Open"), ("W", "Women")]
    assert set(model.COMMON_TYPES) <= set(model.type_names())
    assert set(model.LANGUAGE_TYPES) <= set(model.type_names())


def test_a_point_maps_to_openstreetmap_at_it_and_an_address_alone_to_a_search() -> None:
    at_point = listing(latitude=41.878, longitude=-87.6298)
    assert model.map_link(at_point) == (
        "https://www.openstreetmap.org/?mlat=41.878000&mlon=-87.629800#map=17/41.878000/-87.629800"
    )
    by_address = listing(formatted_address="1 Main St & 2nd Ave, Lakeshore")
    assert model.map_link(by_address) == (
        "https://www.openstreetmap.org/search?query=1%20Main%20St%20%26%202nd%20Ave%2C%20Lakeshore"
    )
    online = listing(formatted_address=None, conference_url="https://zoom.us/j/1")
    assert model.map_link(online) is None


def test_an_address_in_parts_reads_as_one_line() -> None:
    parts = listing(
        formatted_address=None, address="1 Main St", city="Lakeshore", state="IL", postal_code="60601"
    )
    assert model.address_line(parts) == "1 Main St, Lakeshore, IL 60601"


def test_a_conference_phone_dials_through_its_pauses_and_hashes() -> None:
    assert model.phone_link("+15551234567,,123456#,,1") == "tel:+15551234567,,123456%23,,1"


def test_a_start_reads_as_today_tomorrow_or_its_date_and_soon_ones_say_how_soon() -> None:
    chicago = dt.timezone(timedelta(hours=-6))
    now = NOW  # 06:00 in Chicago
    assert model.when_in_words(datetime(2026, 12, 2, 18, 30, tzinfo=chicago), now) == "Today 18:30"
    assert model.when_in_words(datetime(2026, 12, 3, 7, 0, tzinfo=chicago), now) == "Tomorrow 07:00"
    assert model.when_in_words(datetime(2026, 12, 8, 18, 30, tzinfo=chicago), now) == "Tue 8 Dec 18:30"
    assert model.when_in_words(datetime(2027, 1, 5, 18, 30, tzinfo=chicago), now) == "Tue 5 Jan 2027 18:30"
    assert model.starts_in_words(NOW + timedelta(minutes=45), NOW) == "in 45 minutes"
    assert model.starts_in_words(NOW + timedelta(minutes=61), NOW) == "in 1 hour 1 minute"
    assert model.starts_in_words(NOW + timedelta(hours=2), NOW) == "in 2 hours"
    assert model.starts_in_words(NOW, NOW) == "starting now"
    assert model.starts_in_words(NOW + timedelta(hours=7), NOW) is None


def test_pages_of_results_link_to_the_same_search_at_another_offset() -> None:
    query = [("q", "hope"), ("types", "O"), ("types", "D"), ("offset", "20")]
    previous, following = model.page_links(query, offset=20, limit=20, total=45)
    assert previous == "?q=hope&types=O&types=D"
    assert following == "?q=hope&types=O&types=D&offset=40"
    assert model.page_links([], offset=0, limit=20, total=20) == (None, None)


# --- contrast ------------------------------------------------------------------------------------


def luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


CSS = (Path(pages_api.__file__).parent / "static" / "directory.css").read_text()


def test_every_text_colour_of_the_stylesheet_has_at_least_4_5_to_1_contrast_on_its_background() -> None:
    # Each rule with a text colour, on its own background, else the header's or the page's white.
    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS):
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{6})", body)
        if colour:
            background = re.search(r"background:\s*(#[0-9a-fA-F]{6})", body)
            behind = "#12355b" if selector.strip().startswith(".site-header") else "#ffffff"
            pairs.append((selector.strip(), colour.group(1), background.group(1) if background else behind))
    assert len(pairs) > 10
    low = [(s, c, b, round(contrast(c, b), 2)) for s, c, b in pairs if contrast(c, b) < 4.5]
    assert not low
    # Text on the coloured surfaces it is put on: the header, the notices, the focus ring.
    assert contrast("#ffffff", "#12355b") >= 4.5
    assert contrast("#0b4fa8", "#eef3fb") >= 4.5
    assert contrast("#1b1b1f", "#fdf0f0") >= 4.5
    assert contrast("#4a4f57", "#ffffff") >= 4.5


# --- over HTTP -----------------------------------------------------------------------------------


class Collection:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        return self.docs.get(query["_id"])


class Db:
    def __init__(self) -> None:
        self.slugs, self.meetings = Collection(), Collection()


def meeting(slug: str, starts_in: timedelta, **fields: object) -> Meeting:
    """A weekly meeting whose next start is `starts_in` from now (in UTC, to the minute)."""
    at = (datetime.now(UTC) + starts_in).replace(second=0, microsecond=0)
    base: dict[str, object] = {
        "name": slug.replace("-", " ").title(),
        "day": at.isoweekday() % 7,
        "time": at.strftime("%H:%M"),
        "timezone": "UTC",
    }
    return Meeting(
        id=f"id-{slug}", org="org-a", slug=slug, listing=listing(**{**base, **fields}), updated=NOW
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    network = tmp_path / "network.json"
    network.write_text(
        json.dumps(
            {
                "regions": [{"id": "lakeshore", "name": "Lakeshore"}],
                "organizations": [{"id": "org-a", "name": "Lakeshore Fellowship", "region": "lakeshore"}],
            }
        )
    )
    meetings = [
        meeting("hope-soon", timedelta(minutes=40), types=["O", "D"], latitude=41.878, longitude=-87.6298),
        meeting(
            "online-later",
            timedelta(hours=5),
            formatted_address=None,
            conference_url="https://zoom.us/j/123?pwd=a&b=<c>",
            conference_phone="+15551234567,,123#,,1",
            types=["C", "S"],
            notes="Bring <b>yourself</b>.\nCoffee after.",
        ),
        meeting("cancelled-one", timedelta(hours=1)),
    ]
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(pages_api.router)
    app.state.directory, app.state.directory_ready = Directory(), asyncio.Event()
    app.state.directory_ready.set()
    app.state.network = NetworkFile(network)
    app.state.db = db = Db()
    for m in meetings[:2]:
        app.state.directory.put(m)
    cancelled = replace(meetings[2], status="cancelled")
    for m in [*meetings[:2], cancelled]:
        db.slugs.docs[m.slug] = {"_id": m.slug, "meeting_id": m.id, "org": m.org}
        db.meetings.docs[m.id] = store.to_doc(m)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pages") as c:
        yield c


async def test_the_search_page_lists_meetings_soonest_first_with_who_lists_them(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/find")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert page.index("Hope Soon") < page.index("Online Later")
    assert "Cancelled One" not in page
    assert "Listed by Lakeshore Fellowship" in page
    assert "2 meetings" in page


async def test_blank_fields_of_the_form_mean_any(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/find?q=&day=&time_from=&time_to=&starting_within_hours=&language=&region=&latitude=&longitude=&radius_km=25&tz="
    )
    assert r.status_code == 200
    assert "2 meetings" in r.text


async def test_the_search_filters_by_text_type_and_attendance(client: httpx.AsyncClient) -> None:
    assert "1 meeting" in (r := await client.get("/find?q=online")).text and "Online Later" in r.text
    r = await client.get("/find?types=O&types=D")
    assert "Hope Soon" in r.text and "Online Later" not in r.text
    r = await client.get("/find?attendance=online")
    assert "Online Later" in r.text and "Hope Soon" not in r.text
    assert 'value="online" checked' in r.text


async def test_starting_soon_lists_what_starts_in_the_next_two_hours(client: httpx.AsyncClient) -> None:
    r = await client.get("/find?view=soon")
    assert r.status_code == 200
    assert "Meetings starting soon" in r.text and "next 2 hours" in r.text
    assert "Hope Soon" in r.text and "Online Later" not in r.text
    assert re.search(r"in (39|40) minutes", r.text)


async def test_distance_is_shown_when_searching_near_a_point(client: httpx.AsyncClient) -> None:
    r = await client.get("/find?latitude=41.88&longitude=-87.63&radius_km=5")
    assert "Hope Soon" in r.text and "0.2 km away" in r.text and "Online Later" not in r.text


async def test_bad_parameters_answer_the_page_with_what_to_fix(client: httpx.AsyncClient) -> None:
    r = await client.get("/find?time_from=25:00&day=9&q=hello")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in r.text
    assert "Starting from:" in r.text and "Day:" in r.text
    assert 'value="hello"' in r.text  # the form keeps what was typed
    r = await client.get("/find?latitude=41.88")
    assert r.status_code == 422 and "latitude and longitude go together" in r.text


async def test_what_a_listing_says_is_escaped(client: httpx.AsyncClient) -> None:
    r = await client.get("/find/online-later")
    assert "<b>yourself</b>" not in r.text and "&lt;b&gt;yourself&lt;/b&gt;" in r.text
    assert 'href="https://zoom.us/j/123?pwd=a&amp;b=&lt;c&gt;"' in r.text


async def test_a_meetings_page_has_its_schedule_dates_links_and_organization(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/find/hope-soon")
    assert r.status_code == 200
    page = r.text
    assert "<h1" in page and "Hope Soon" in page
    assert "(UTC)" in page  # the schedule names its zone
    assert (
        'href="https://www.openstreetmap.org/?mlat=41.878000&amp;mlon=-87.629800#map=17/41.878000/-87.629800"'
        in page
    )
    assert 'href="/directory/meetings/hope-soon/calendar.ics"' in page
    assert "Open" in page and "Discussion" in page
    assert "Listed by <strong>Lakeshore Fellowship</strong>" in page
    assert page.count("<time") == 8

    online = (await client.get("/find/online-later")).text
    assert 'id="online-link"' in online and 'href="tel:+15551234567,,123%23,,1"' in online
    assert "Closed" in online and "Spanish" in online and "map-link" not in online


async def test_a_cancelled_meeting_says_so_and_offers_no_dates(client: httpx.AsyncClient) -> None:
    r = await client.get("/find/cancelled-one")
    assert r.status_code == 200
    assert "This meeting has been cancelled." in r.text
    assert "calendar.ics" not in r.text


async def test_an_unknown_meeting_is_an_html_404(client: httpx.AsyncClient) -> None:
    for slug in ("no-such-meeting", "bad%20slug!", "x" * 65):
        r = await client.get(f"/find/{slug}")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "Meeting not found" in r.text


async def test_the_stylesheet_and_script_are_served_by_the_service(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/meetings/directory.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = await client.get("/static/meetings/find.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert (await client.get("/static/meetings/../api.py")).status_code == 404
    assert (await client.get("/static/meetings/other.css")).status_code == 404
