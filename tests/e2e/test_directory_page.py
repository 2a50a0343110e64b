"""The public directory page in headless Chromium on a phone: a person finds meetings by text, by type
and near them with the keyboard alone, sees what starts soon, and opens a meeting's map, online and
calendar links; nothing is wider than the screen and every control has a name. Screenshots of each
view go to test-output/directory-page/."""

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, ViewportSize, async_playwright, expect

from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, eventually, joined

pytestmark = pytest.mark.e2e

SHOTS = OUTPUT / "directory-page"
PHONE: ViewportSize = {"width": 375, "height": 812}
LABELS = [
    "Name, place or words",
    "Day",
    "Starting within",
    "Starting from",
    "Starting by",
    "In person",
    "Online",
    "Both (hybrid)",
    "Open",
    "Language",
    "Region or city",
    "Latitude",
    "Longitude",
    "Within (km)",
]


@pytest.fixture
def org(network: Stack) -> Iterator[tuple[str, str]]:
    """An organization of this test's own (id, name), joined to the running network."""
    tag = new_id()[-8:].lower()
    org_id, name = f"harbor-{tag}", f"Harbor Fellowship {tag}"
    with joined(network.network_file, [], [{"id": org_id, "name": name, "region": "lakeshore"}]):
        yield org_id, name


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        await browser.close()


def meetings(tag: str) -> list[dict[str, Any]]:
    """One in person near a point and starting within the hour (UTC), one online later, one by address."""
    soon, later = datetime.now(UTC) + timedelta(minutes=30), datetime.now(UTC) + timedelta(hours=5)
    return [
        {
            "name": f"Harbor Dawn {tag}",
            "day": soon.isoweekday() % 7,
            "time": soon.strftime("%H:%M"),
            "timezone": "UTC",
            "types": ["O", "D"],
            "location": "Harbor Hall",
            "formatted_address": "1 Pier St, Lakeshore",
            "latitude": 41.878,
            "longitude": -87.6298,
        },
        {
            "name": f"Harbor Online {tag}",
            "day": later.isoweekday() % 7,
            "time": later.strftime("%H:%M"),
            "timezone": "UTC",
            "types": ["C", "S"],
            "conference_url": "https://zoom.us/j/5550001?pwd=harbor",
            "conference_phone": "+15550001111,,5550001",
        },
        {
            "name": f"Harbor Women {tag}",
            "day": [2, 4],
            "time": "18:30",
            "timezone": "America/Chicago",
            "types": ["W"],
            "formatted_address": "9 Elm St, Lakeshore",
        },
    ]


async def tab_to(page: Page, target: Locator, *, limit: int = 80) -> None:
    """Tab until `target` has the focus: proves the keyboard reaches it, in the page's own order."""
    for _ in range(limit):
        if await target.evaluate("el => el === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


async def fits_the_screen(page: Page) -> None:
    """Nothing scrolls sideways: no visible element ends beyond the viewport's width."""
    wide = await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const out = [...document.querySelectorAll('body *')].filter(el => {
                const r = el.getBoundingClientRect();
                return r.width > 0 && r.height > 1 && r.right > width + 0.5;
            }).map(el => el.outerHTML.slice(0, 80));
            const scrolled = document.documentElement.scrollWidth;
            if (scrolled > width) out.push('scrollWidth ' + scrolled);
            return out;
        }"""
    )
    assert wide == []


async def every_control_is_named(page: Page) -> None:
    for label in LABELS:
        await expect(page.get_by_label(label, exact=True)).to_have_count(1)
    await expect(page.get_by_role("button", name="Search")).to_be_visible()
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length))
            .filter(el => !el.getAttribute('aria-label') && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unnamed == []


async def test_a_person_finds_a_meeting_on_a_phone_with_the_keyboard(
    network: Stack, org: tuple[str, str], tokens: Tokens, http: httpx.AsyncClient, browser: Browser
) -> None:
    url, (org_id, org_name) = network.url("meetings"), org
    tag = org_id.removeprefix("harbor-")
    admin = tokens(f"admin-{tag}", org_id, Role.ORG_ADMIN)
    slugs = []
    for body in meetings(tag):
        r = await http.post(f"{url}/meetings", json=body, headers=admin)
        assert r.status_code == 201, r.text
        slugs.append(r.json()["slug"])

    async def listed() -> bool:
        r = await http.get(f"{url}/directory/meetings", params={"q": tag})
        return bool(r.json()["total"] == 3)

    await eventually(listed)
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(
        viewport=PHONE,
        timezone_id="America/Chicago",
        geolocation={"latitude": 41.8781, "longitude": -87.6297},
        permissions=["geolocation"],
    )
    page = await context.new_page()

    # The form: named controls, a skip link, landmarks, and it fits a phone.
    await page.goto(f"{url}/find")
    assert await page.get_attribute("html", "lang") == "en"
    for landmark in ("banner", "main", "navigation", "search"):
        assert await page.get_by_role(landmark).count() >= 1
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    search_box = page.get_by_label("Name, place or words")
    await expect(search_box).to_be_focused()
    outline = await search_box.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"  # the focus is visible
    await page.get_by_text("More filters").click()
    await every_control_is_named(page)
    await page.screenshot(path=SHOTS / "find-phone.png", full_page=True)
    await page.get_by_text("More filters").click()

    # By text, with Enter.
    await search_box.focus()
    await page.keyboard.type(tag)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="3 meetings")).to_be_visible()
    results = page.locator("ol.meetings > li")
    await expect(results).to_have_count(3)
    await expect(results.first).to_contain_text(f"Harbor Dawn {tag}")  # soonest first
    await expect(results.first).to_contain_text(re.compile(r"in \d+ minutes"))
    await expect(results.first).to_contain_text("your time")  # the reader is in Chicago, the meeting in UTC
    await expect(results.filter(has_text=f"Listed by {org_name}")).to_have_count(3)
    await fits_the_screen(page)
    await page.screenshot(path=SHOTS / "results-phone.png", full_page=True)

    # By type: More filters, then "Open", with Tab, Enter and Space only.
    await tab_to(page, page.locator("summary", has_text="More filters"))
    await page.keyboard.press("Enter")
    await tab_to(page, page.get_by_label("Open", exact=True))
    await page.keyboard.press("Space")
    await tab_to(page, page.get_by_role("button", name="Search"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="1 meeting")).to_be_visible()
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text(f"Harbor Dawn {tag}")
    await expect(page.get_by_label("Open", exact=True)).to_be_checked()

    # Near me: the location button fills the point, results say how far.
    await tab_to(page, page.get_by_role("button", name="Use my location"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Latitude")).to_have_value("41.87810")
    await tab_to(page, page.get_by_role("button", name="Search"))
    await page.keyboard.press("Enter")
    await expect(results.first).to_contain_text("0.0 km away")

    # Starting soon, from the menu.
    await tab_to(page, page.get_by_role("link", name="Starting soon"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Meetings starting soon")).to_be_visible()
    await expect(page.get_by_label("Starting within")).to_have_value("2")
    await expect(results.filter(has_text=f"Harbor Dawn {tag}")).to_have_count(1)
    await expect(results.filter(has_text=f"Harbor Online {tag}")).to_have_count(0)
    await fits_the_screen(page)
    await page.screenshot(path=SHOTS / "soon-phone.png", full_page=True)

    # A meeting's page: its map and calendar links.
    await tab_to(page, page.get_by_role("link", name=f"Harbor Dawn {tag}"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Harbor Dawn {tag}")
    await expect(page.get_by_role("link", name="Show on a map (OpenStreetMap)")).to_have_attribute(
        "href", "https://www.openstreetmap.org/?mlat=41.878000&mlon=-87.629800#map=17/41.878000/-87.629800"
    )
    await expect(page.get_by_role("link", name="Add to calendar")).to_have_attribute(
        "href", f"/directory/meetings/{slugs[0]}/calendar.ics"
    )
    await expect(page.get_by_text(f"Listed by {org_name}")).to_be_visible()
    await expect(page.locator("ul.types")).to_contain_text("Discussion")
    await fits_the_screen(page)
    await page.screenshot(path=SHOTS / "meeting-phone.png", full_page=True)

    # The online one: join and dial links; no map.
    await page.goto(f"{url}/find/{slugs[1]}")
    await expect(page.get_by_role("link", name="Join online")).to_have_attribute(
        "href", "https://zoom.us/j/5550001?pwd=harbor"
    )
    await expect(page.get_by_role("link", name="+15550001111,,5550001")).to_have_attribute(
        "href", "tel:+15550001111,,5550001"
    )
    await expect(page.get_by_role("link", name="Show on a map (OpenStreetMap)")).to_have_count(0)
    await fits_the_screen(page)
    await page.screenshot(path=SHOTS / "meeting-online-phone.png", full_page=True)

    # An unknown meeting and a bad search are pages too, with their status.
    missing = await page.goto(f"{url}/find/no-such-meeting-{tag}")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("heading", name="Meeting not found")).to_be_visible()
    invalid = await page.goto(f"{url}/find?time_from=25:00")
    assert invalid is not None and invalid.status == 422
    await expect(page.get_by_role("alert")).to_contain_text("Starting from")

    # And on a desktop.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{url}/find?q={tag}")
    await fits_the_screen(page)
    await page.screenshot(path=SHOTS / "results-desktop.png", full_page=True)
    await context.close()
