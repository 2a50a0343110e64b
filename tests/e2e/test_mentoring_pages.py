"""Mentoring's mentor page in headless Chromium on a phone: a mentor answers a proposal with the keyboard,
the member appears among their mentees, a notification's link opens on that mentee, and the same mentor
id in another organization never brings that organization's people onto the page. A screenshot goes to
test-output/mentoring-mentor-page.png."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, ViewportSize, async_playwright, expect

from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, joined

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 375, "height": 812}


@pytest.fixture
def orgs(network: Stack) -> Iterator[tuple[str, str]]:
    """Two organizations of this test's own, joined to the running network: nothing else is in them."""
    ids = (f"mpages-{new_id()[-10:]}", f"mpages-{new_id()[-10:]}")
    organizations = [{"id": org, "name": org, "region": "lakeshore"} for org in ids]
    with joined(network.network_file, [], organizations):
        yield ids


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        await browser.close()


async def proposal_to_mara(http: httpx.AsyncClient, base: str, org: str, member: str, tokens: Tokens) -> str:
    """`member` of `org` asks for a mentor and mara, the only one there, is proposed: the match id."""
    r = await http.post(f"{base}/mentoring/requests", json={}, headers=tokens(member, org, Role.MEMBER))
    assert r.status_code == 201, r.text
    assert r.json()["proposal"]["mentor_id"] == "mara", r.text
    return str(r.json()["proposal"]["match_id"])


async def test_a_mentor_accepts_a_proposal_with_the_keyboard_and_sees_only_their_organizations_people(
    network: Stack, orgs: tuple[str, str], tokens: Tokens, http: httpx.AsyncClient, browser: Browser
) -> None:
    base, (org, other_org) = network.url("mentoring"), orgs
    for o in orgs:
        r = await http.put(
            f"{base}/mentors/mara", json={"capacity": 3}, headers=tokens("coord", o, Role.COORDINATOR)
        )
        assert r.status_code == 200, r.text
    match_id = await proposal_to_mara(http, base, org, "sol", tokens)
    # The other organization's mara has a mentee and a proposal of her own.
    elsewhere = await proposal_to_mara(http, base, other_org, "far-mentee", tokens)
    r = await http.post(
        f"{base}/mentoring/matches/{elsewhere}/accept", headers=tokens("mara", other_org, Role.MENTOR)
    )
    assert r.status_code == 200, r.text
    await proposal_to_mara(http, base, other_org, "far-proposed", tokens)

    mara = tokens("mara", org, Role.MENTOR)
    context = await browser.new_context(viewport=PHONE, is_mobile=True)
    page = await context.new_page()
    await page.goto(f"{base}/mentoring/pages/mentor")
    await page.get_by_label("Access token").fill(mara["Authorization"].removeprefix("Bearer "))
    await page.keyboard.press("Enter")

    proposals = page.locator("#proposal-list > li")
    await expect(proposals).to_have_count(1, timeout=10_000)
    await expect(proposals).to_contain_text("sol")
    await expect(page.get_by_text("You have no mentees yet.")).to_be_visible()
    await expect(page.get_by_role("button", name="Decline the proposal for member sol")).to_be_visible()

    # Accepted with the keyboard: the proposal leaves, sol's row appears and takes the focus.
    await page.get_by_role("button", name="Accept the proposal for member sol").focus()
    await page.keyboard.press("Enter")
    row = page.locator(f"#match-{match_id}")
    await expect(row).to_be_focused(timeout=10_000)
    await expect(row.locator('td[data-label="Member"]')).to_have_text("sol")
    await expect(row.locator('td[data-label="Check-in"]')).to_have_text("on time")
    await expect(proposals).to_have_count(0)
    await expect(page.get_by_text("No proposals are waiting for you.")).to_be_visible()
    await expect(page.locator("#announcer")).to_have_text("Accepted: member sol is your mentee now")
    view = (await http.get(f"{base}/mentoring/mentor", headers=mara)).json()
    assert [(m["match_id"], m["member_id"]) for m in view["mentees"]] == [(match_id, "sol")]

    for outsider in ("far-mentee", "far-proposed"):
        await expect(page.get_by_text(outsider)).to_have_count(0)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "mentoring-mentor-page.png"), full_page=True)

    # A notification's link opens on that mentee; the token is still in this tab.
    await page.goto(f"{base}/mentoring/pages/mentor#match-{match_id}")
    await expect(page.locator(f"#match-{match_id}")).to_be_focused(timeout=10_000)
    await expect(page.locator("#mentee-rows > tr")).to_have_count(1)

    # The coordinator's page refuses the mentor's token in words, then shows the coordinator mara's load.
    await page.goto(f"{base}/mentoring/pages/coordinator")
    await expect(page.locator("#signin-error")).to_contain_text("This page is for coordinators")
    coordinator = tokens("coord", org, Role.COORDINATOR)["Authorization"].removeprefix("Bearer ")
    await page.get_by_label("Access token").fill(coordinator)
    await page.keyboard.press("Enter")
    load = page.locator("#load-rows > tr")
    await expect(load).to_have_count(1, timeout=10_000)
    await expect(load.locator('td[data-label="Active"]')).to_have_text("1")
    # The member's page refuses the coordinator's token; signed in as sol, it shows their mentor.
    await page.goto(f"{base}/mentoring/pages/me")
    await expect(page.locator("#signin-error")).to_contain_text("This page is for members")
    await page.get_by_label("Access token").fill(
        tokens("sol", org, Role.MEMBER)["Authorization"].removeprefix("Bearer ")
    )
    await page.keyboard.press("Enter")
    await expect(page.locator("#match-mentor")).to_have_text("mara", timeout=10_000)
    await context.close()
