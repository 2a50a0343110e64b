"""The responder console in headless Chromium: a whole shift worked in the page (signed in through the
sign-in page, an escalation arriving live, acknowledged, a note, a safety plan, a warm handoff chosen,
never pre-chosen, the caring contact done) under the page's Content-Security-Policy, a coordinator's
roster override and confirmed deactivation deciding who the next alert reaches (and the deactivated
person told so in their page), a responder of another organization seeing nothing of the first, and a
change made with the session cookie but without the CSRF token refused.
Screenshots: test-output/console/<test>/."""

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, expect

from deploy.local.seed import DemoUser
from deploy.local.stack import Stack
from shared.auth.principal import Role
from shared.auth.session import CSRF_HEADER
from tests.conftest import Tokens
from tests.e2e.console_page import (
    Console,
    Shots,
    chromium,
    console_process,
    new_org,
    raise_alert,
    set_up_org,
    sign_in,
)

pytestmark = pytest.mark.e2e

ORG, OTHER_ORG = new_org("console"), new_org("console-other")
USERS = [
    DemoUser("responder-1", ORG, (Role.RESPONDER,), "Responder 1"),
    DemoUser("responder-2", ORG, (Role.RESPONDER,), "Responder 2"),
    DemoUser("coordinator", ORG, (Role.COORDINATOR, Role.RESPONDER), "Coordinator"),
    DemoUser("far-responder", OTHER_ORG, (Role.RESPONDER,), "Responder of another organization"),
]
STAFF = {
    "responder-1": ["responder"],
    "responder-2": ["responder"],
    "coordinator": ["coordinator", "responder"],
}
PHONE = {"width": 375, "height": 812}
TIME_ZONE = "America/Chicago"  # the browser's: the page turns its wall times into instants

# Records what the page asks of the browser's alerting APIs: permission requests, desktop notifications
# shown and tones started with Web Audio. The real APIs run underneath; the permission reads "default"
# until the page asks, as before a person answers the browser's prompt (the context grants it). And
# what the page's Content-Security-Policy refused: nothing, or some part of the page does not work.
RECORD_ALERTS = """
window.__alerts = { asked: 0, permission: "default", notifications: [], tones: 0 };
window.__refused = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__refused.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
const RealNotification = window.Notification;
class RecordedNotification extends RealNotification {
  constructor(title, options) {
    super(title, options);
    window.__alerts.notifications.push({ title, body: (options || {}).body || "" });
  }
  static get permission() { return window.__alerts.permission; }
  static async requestPermission() {
    window.__alerts.asked += 1;
    window.__alerts.permission = await RealNotification.requestPermission();
    return window.__alerts.permission;
  }
}
window.Notification = RecordedNotification;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__alerts.tones += 1;
  return createOscillator.call(this);
};
"""


@pytest.fixture(scope="module")
def console(network: Stack) -> Iterator[Console]:
    with console_process(network, [ORG, OTHER_ORG], USERS) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def context(browser: Browser, console: Console) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(timezone_id=TIME_ZONE, viewport={"width": 1280, "height": 900})
    await context.grant_permissions(["notifications"], origin=console.url)
    await context.add_init_script(RECORD_ALERTS)
    yield context
    await context.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


def case_card(page: Page, case_id: str) -> Any:
    return page.locator(f'#cases > li[data-case-id="{case_id}"]')


async def test_a_responder_works_a_whole_shift_in_the_console(
    console: Console, context: BrowserContext, tokens: Tokens, http: httpx.AsyncClient, shots: Shots
) -> None:
    admin = await set_up_org(
        http, console, tokens, ORG, STAFF, [{"responder_ids": ["responder-1"]}, {"role": "coordinator"}]
    )
    r = await http.put(
        f"{console.url}/crisis/partners/clinic-1", json={"name": "Lakeshore Clinic"}, headers=admin
    )
    assert r.status_code == 204, r.text
    page = await context.new_page()
    # The case reads the page asked for, and those the service answered: each answered one is in the
    # case's audit trail.
    asked: list[str] = []
    answered: list[str] = []

    def is_read(request: Request) -> bool:
        return request.method == "GET" and bool(
            re.search(r"/crisis/cases/[^/?]+(/notes|/safety-plan)?$", request.url)
        )

    page.on("request", lambda request: is_read(request) and asked.append(request.url))
    page.on(
        "response",
        lambda response: is_read(response.request) and response.ok and answered.append(response.url),
    )
    await sign_in(page, console, "responder-1")
    served = await http.get(f"{console.url}/crisis/console")
    assert "default-src 'self'" in served.headers["content-security-policy"]
    await expect(page.locator("#who-org")).to_have_text(ORG)
    await expect(page.locator("#cases-empty")).to_be_visible()
    # Alerts are turned on by a button, never asked for on load.
    assert await page.evaluate("window.__alerts.asked") == 0
    await page.get_by_role("button", name="Turn on sound and desktop alerts").click()
    await expect(page.get_by_role("button", name="Turn on sound and desktop alerts")).to_be_hidden()
    await expect(page.locator("#announcer")).to_have_text("Sound and desktop alerts are on")
    assert await page.evaluate("window.__alerts.asked") == 1
    tones_before = await page.evaluate("window.__alerts.tones")
    await shots(page, "signed-in")

    # A member reaches out while the page is open: the escalation to responder-1 arrives live.
    case = await raise_alert(http, console, tokens, ORG, "imminent")
    case_id, short = case["id"], case["id"][-8:]
    assert case["notified"] == ["responder-1"]
    card = case_card(page, case_id)
    await expect(card).to_have_count(1, timeout=15_000)
    escalated = page.locator(f'#feed > li[data-type="crisis.escalated.v1"][data-case-id="{case_id}"]')
    await expect(escalated).to_have_class(re.compile(r"\bmine\b"))
    await expect(escalated).to_contain_text("Reaches you")
    await expect(card).to_have_class(re.compile(r"\bnew-escalation\b"))
    await expect(card.locator(".badge")).to_have_text("Imminent")
    await expect(card.locator(".mine-flag")).to_be_visible()
    await expect(card.locator(".guidance")).to_contain_text("988")
    await expect(card.locator(".countdown")).to_have_text(re.compile(r"^level 2 in 3:5\d:\d\d$"))
    await expect(page.locator("#announcer")).to_have_text(f"Escalation reaches you: case {short}, level 1")
    alerts = await page.evaluate("window.__alerts")
    assert [n["title"] for n in alerts["notifications"]] == ["Crisis escalation reaches you"]
    assert alerts["notifications"][0]["body"] == f"Case {short}, level 1"
    assert alerts["tones"] == tones_before + 3
    await shots(page, "escalation-arrived")

    # Acknowledged in the case panel: escalation stops until the acknowledgement times out.
    await card.get_by_role("button", name=f"Open case {short}").click()
    await expect(page.locator("#case-heading")).to_have_text(f"Case {short}")
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#case-state")).to_have_text("Acknowledged")
    await expect(card.locator(".countdown")).to_have_text(re.compile(r"^acknowledgement times out in \d"))
    await expect(page.locator('#timeline > li[data-what="acknowledged"]')).to_contain_text("by: responder-1")
    await shots(page, "acknowledged")

    # A note and the safety plan, saved.
    note = "Spoke with them by phone; a friend is on the way."
    await page.get_by_label("New note").fill(note)
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("#notes")).to_contain_text(note)
    professionals = page.get_by_label("Professionals or agencies I can contact during a crisis, item 1")
    await expect(professionals).to_have_value("988 Suicide & Crisis Lifeline - call or text 988")
    await page.get_by_label("Warning signs, item 1").fill("Not sleeping")
    await page.get_by_role("button", name="Add item to Warning signs").click()
    await expect(page.get_by_label("Warning signs, item 2")).to_be_focused()
    await page.keyboard.type("Giving things away")
    await page.get_by_label("Internal coping strategies, item 1").fill("A walk by the lake")
    await page.get_by_label("People whom I can ask for help, item 1").fill("Sister")
    await page.get_by_label("Making the environment safe, item 1").fill("Medication kept by a friend")
    await page.get_by_role("button", name="Save safety plan").click()
    await expect(page.locator("#plan-saved")).to_have_text("Safety plan saved.")
    await expect(page.locator("#plan-updated")).to_contain_text("by responder-1")
    await shots(page, "note-and-safety-plan")

    # After a reload the page opens the same case and reads both back from the server.
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Connected", timeout=15_000)
    await expect(page.locator("#case-heading")).to_have_text(f"Case {short}")
    await expect(page.locator("#notes > li")).to_have_count(1)
    await expect(page.locator("#notes")).to_contain_text(note)
    await expect(page.get_by_label("Warning signs, item 2")).to_have_value("Giving things away")
    await expect(page.get_by_label("Making the environment safe, item 1")).to_have_value(
        "Medication kept by a friend"
    )

    # Nothing is chosen for the responder: resolving before choosing is refused in the page.
    await expect(page.get_by_label("Outcome")).to_have_value("")
    await expect(page.get_by_label("Referral", exact=True)).to_have_value("")
    await page.get_by_role("button", name="Resolve case").click()
    await expect(page.locator("#resolve-problem")).to_have_text(
        "Choose the outcome and the referral before resolving the case."
    )
    await expect(page.get_by_label("Outcome")).to_be_focused()
    await expect(page.locator("#case-state")).to_have_text("Acknowledged")
    await expect(card).to_have_count(1)

    # Resolved as a warm handoff: the partner is chosen by name.
    await page.get_by_label("Outcome").select_option("referred")
    await page.get_by_label("Referral", exact=True).select_option("warm_handoff")
    await page.get_by_role("button", name="Resolve case").click()
    await expect(page.locator("#resolve-problem")).to_have_text(
        "Choose the partner the person was handed to."
    )
    await page.get_by_label("Partner").select_option(label="Lakeshore Clinic")
    await page.get_by_role("button", name="Resolve case").click()
    await expect(page.locator("#case-state")).to_have_text("Resolved")
    await expect(page.locator("#case-referral")).to_have_text("Warm handoff to a partner: Lakeshore Clinic")
    await expect(card).to_have_count(0)
    await expect(page.locator("#resolve-form")).to_be_hidden()

    # The caring contact is on responder-1's list until they mark it done.
    follow_up = page.locator(f'#follow-ups > li[data-case-id="{case_id}"]')
    await expect(follow_up).to_have_count(1, timeout=15_000)
    await expect(follow_up).to_contain_text(f"Case {short}")
    await expect(follow_up).not_to_have_class(re.compile(r"\boverdue\b"))
    await shots(page, "resolved-follow-up-due")
    await follow_up.get_by_role("button", name="Mark done").click()
    await expect(follow_up).to_have_count(0)
    await expect(page.locator("#follow-ups-empty")).to_be_visible()
    done = page.locator(f'#feed > li[data-type="crisis.follow_up_completed.v1"][data-case-id="{case_id}"]')
    await expect(done).to_have_count(1, timeout=15_000)
    await shots(page, "follow-up-done")

    # What the page did is what the service recorded.
    r = await http.get(f"{console.url}/crisis/cases/{case_id}", headers=admin)
    recorded = r.json()
    assert (recorded["state"], recorded["outcome"], recorded["referral"], recorded["partner_id"]) == (
        "resolved",
        "referred",
        "warm_handoff",
        "clinic-1",
    )
    assert recorded["acknowledged_by"] == "responder-1"
    assert recorded["follow_up"]["responder_id"] == "responder-1" and recorded["follow_up"]["done_at"]
    r = await http.get(f"{console.url}/crisis/cases/{case_id}/notes", headers=admin)
    assert [(n["author"], n["text"]) for n in r.json()] == [("responder-1", note)]
    r = await http.get(f"{console.url}/crisis/cases/{case_id}/safety-plan", headers=admin)
    plan = r.json()
    assert plan["warning_signs"] == ["Not sleeping", "Giving things away"]
    assert plan["professionals"] == ["988 Suicide & Crisis Lifeline - call or text 988"]
    assert (plan["distractions"], plan["updated_by"]) == ([], "responder-1")
    r = await http.get(f"{console.url}/crisis/cases/{case_id}/audit", headers=admin)
    audited = [entry for entry in r.json() if entry["reader"] == "responder-1"]
    assert answered and len(answered) <= len(audited) <= len(asked), (len(audited), answered, asked)
    assert await page.evaluate("window.__refused") == []
    await page.close()


async def test_a_coordinators_roster_override_decides_who_the_next_alert_reaches(
    console: Console, context: BrowserContext, tokens: Tokens, http: httpx.AsyncClient, shots: Shots
) -> None:
    await set_up_org(http, console, tokens, ORG, STAFF, [{"roster_id": "oncall"}], roster=["responder-1"])
    before = await raise_alert(http, console, tokens, ORG)
    assert before["notified"] == ["responder-1"]
    page = await context.new_page()
    await sign_in(page, console, "coordinator")
    roster = page.locator('article.roster[data-roster="oncall"]')
    await expect(roster.locator(".on-call-now")).to_have_text("responder-1", timeout=10_000)
    await expect(page.locator(".ladder > li")).to_have_count(1)
    await expect(page.locator(".ladder > li")).to_contain_text("on call in roster oncall")
    await shots(page, "team-before")

    # responder-2 on call from a few minutes ago for two hours, in the browser's own wall time.
    local = datetime.now(ZoneInfo(TIME_ZONE))
    start, end = local - timedelta(minutes=5), local + timedelta(hours=2)
    await roster.get_by_label("On call").select_option("responder-2")
    await roster.get_by_label(re.compile(r"^From \(your time")).fill(start.strftime("%Y-%m-%dT%H:%M"))
    await roster.get_by_label(re.compile(r"^To \(your time")).fill(end.strftime("%Y-%m-%dT%H:%M"))
    await roster.get_by_role("button", name="Add override").click()
    await expect(roster.locator(".on-call-now")).to_have_text("responder-2")
    await expect(roster.locator(".overrides > li")).to_have_count(1)
    await expect(roster.locator(".overrides > li")).to_contain_text("responder-2 on call from")
    await shots(page, "override-added")

    # The override is stored as the instants the coordinator meant.
    r = await http.get(f"{console.url}/crisis/rosters", headers=tokens("coordinator", ORG, Role.COORDINATOR))
    (stored,) = [x for x in r.json() if x["roster_id"] == "oncall"]
    (override,) = stored["overrides"]
    assert override["responder_id"] == "responder-2"
    assert datetime.fromisoformat(override["start"]) == start.replace(second=0, microsecond=0)
    assert datetime.fromisoformat(override["end"]) == end.replace(second=0, microsecond=0)

    after = await raise_alert(http, console, tokens, ORG)
    assert after["notified"] == ["responder-2"]
    escalated = page.locator(f'#feed > li[data-type="crisis.escalated.v1"][data-case-id="{after["id"]}"]')
    await expect(escalated).to_have_count(1, timeout=15_000)
    # Not the coordinator's escalation: the page does not say it reaches them.
    await expect(escalated).not_to_have_class(re.compile(r"\bmine\b"))
    await expect(case_card(page, after["id"]).locator(".case-notified")).to_have_text("Notified: responder-2")
    await shots(page, "next-alert-to-responder-2")
    await page.close()


async def test_a_responder_deactivated_in_the_page_is_not_notified_by_the_next_alert(
    console: Console,
    browser: Browser,
    context: BrowserContext,
    tokens: Tokens,
    http: httpx.AsyncClient,
    shots: Shots,
) -> None:
    levels = [{"responder_ids": ["responder-1", "responder-2"]}]
    await set_up_org(http, console, tokens, ORG, STAFF, levels)
    assert (await raise_alert(http, console, tokens, ORG))["notified"] == ["responder-1", "responder-2"]
    page = await context.new_page()
    await sign_in(page, console, "coordinator")
    row = page.locator('#staff-rows > tr[data-person="responder-2"]')
    await expect(row).to_contain_text("Active", timeout=10_000)
    await shots(page, "staff-before")

    # Deactivating takes a second, deliberate press.
    await row.get_by_role("button", name="Deactivate responder-2").click()
    confirm = row.get_by_role("button", name="Confirm deactivate responder-2")
    await expect(confirm).to_be_focused()
    await expect(row).to_contain_text("Active")
    await confirm.click()
    await expect(row).to_contain_text("Deactivated")
    await expect(row.get_by_role("button", name="Reactivate responder-2")).to_be_visible()
    await expect(page.locator("#announcer")).to_have_text(
        "responder-2 deactivated: they are not notified any more"
    )
    await shots(page, "responder-2-deactivated")

    case = await raise_alert(http, console, tokens, ORG)
    assert case["notified"] == ["responder-1"]
    escalated = page.locator(f'#feed > li[data-type="crisis.escalated.v1"][data-case-id="{case["id"]}"]')
    await expect(escalated).to_have_count(1, timeout=15_000)
    await expect(case_card(page, case["id"]).locator(".case-notified")).to_have_text("Notified: responder-1")

    # Signed in, responder-2 is told they are off the staff; the page does not keep reconnecting.
    theirs = await browser.new_context()
    their_page = await theirs.new_page()
    streams: list[str] = []
    their_page.on("request", lambda r: r.url.endswith("/crisis/console/events") and streams.append(r.url))
    await their_page.goto(f"{console.url}/crisis/console")
    await their_page.locator('button[name="user"][value="responder-2"]').click()
    await expect(their_page.locator("#session-banner-text")).to_have_text(
        f"You are not on the active crisis staff of {ORG}. A coordinator of {ORG} can add you again."
    )
    await expect(their_page.locator("#status")).to_have_text("Not on the staff")
    await expect(their_page.locator("#cases > li")).to_have_count(0)
    await shots(their_page, "deactivated-responder-2-signed-in")

    # Added again with the roles chosen in the page, they are active (and reachable) once more.
    await row.get_by_role("button", name="Reactivate responder-2").click()
    await expect(row).to_contain_text("Active")
    r = await http.get(f"{console.url}/crisis/staff", headers=tokens("coordinator", ORG, Role.COORDINATOR))
    assert {"responder_id": "responder-2", "roles": ["responder"], "active": True} in r.json()
    await shots(page, "responder-2-reactivated")
    assert len(streams) == 1, streams
    await theirs.close()
    await page.close()


async def test_a_responder_of_another_organization_sees_nothing_of_the_first(
    console: Console, browser: Browser, tokens: Tokens, http: httpx.AsyncClient, shots: Shots
) -> None:
    await set_up_org(http, console, tokens, ORG, STAFF, [{"responder_ids": ["responder-1"]}])
    await set_up_org(
        http,
        console,
        tokens,
        OTHER_ORG,
        {"far-responder": ["responder", "coordinator"]},
        [{"responder_ids": ["far-responder"]}],
    )
    first = await raise_alert(http, console, tokens, ORG, "imminent")
    # On a phone: the console must fit a narrow screen too.
    context = await browser.new_context(viewport=PHONE, is_mobile=True, timezone_id=TIME_ZONE)
    page = await context.new_page()
    await sign_in(page, console, "far-responder")
    await expect(page.locator("#cases-empty")).to_be_visible(timeout=10_000)
    # The first organization's case opened before, and one raised while the page is open; then one of
    # its own: once that shows, the stream (in order) would have shown the other before it.
    second = await raise_alert(http, console, tokens, ORG, "imminent")
    own = await raise_alert(http, console, tokens, OTHER_ORG)
    await expect(page.locator(f'#feed > li[data-case-id="{own["id"]}"]')).to_have_count(2, timeout=15_000)
    await expect(case_card(page, own["id"])).to_have_count(1)
    shown = await page.locator("#cases > li").evaluate_all("lis => lis.map(li => li.dataset.caseId)")
    assert own["id"] in shown
    for case in (first, second):
        await expect(page.locator(f'[data-case-id="{case["id"]}"]')).to_have_count(0)
        await expect(page.get_by_text(case["id"][-8:])).to_have_count(0)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shots(page, "other-organization-phone")

    # Asked for by its id, the first organization's case does not exist for them.
    await page.goto(f"{console.url}/crisis/console#case-{first['id']}")
    await expect(page.locator("#case-problem")).to_have_text("There is no such case in your organization.")
    await expect(page.locator("#case-body")).to_be_hidden()
    status = await page.evaluate(f"fetch('/crisis/cases/{first['id']}/notes').then(r => r.status)")
    assert status == 404
    await shots(page, "other-organization-case-refused")
    await context.close()


async def test_a_change_with_the_session_cookie_but_without_the_csrf_token_is_refused(
    console: Console, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    await set_up_org(http, console, tokens, ORG, STAFF, [{"responder_ids": ["responder-1"]}])
    case = await raise_alert(http, console, tokens, ORG)
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as browser_like:
        r = await browser_like.post(
            "/crisis/console/sign-in", data={"user": "responder-1", "next": "/crisis/console"}
        )
        assert r.status_code == 303, r.text
        session = (await browser_like.get("/crisis/console/session")).json()
        refused = await browser_like.post(f"/crisis/cases/{case['id']}/acknowledge", json={})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert CSRF_HEADER in refused.json()["detail"]
        assert (await browser_like.get(f"/crisis/cases/{case['id']}")).json()["state"] == "triggered"
        accepted = await browser_like.post(
            f"/crisis/cases/{case['id']}/acknowledge", json={}, headers={CSRF_HEADER: session["csrf_token"]}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["acknowledged_by"] == "responder-1"
