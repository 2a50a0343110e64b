"""BARC-10 routes over HTTP (in process, on the real document store): who may call what, and the shapes."""

from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.local.stack import Stack
from services.mentoring.capital import api
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared.app import service_app
from shared.auth.principal import Role
from tests.conftest import Tokens


@pytest.fixture
async def client(stack: Stack, scratch_db: Db) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(jwt_public_key_file=stack.public_key, network_file=stack.network_file)
    app = service_app(settings, description="", tracer_provider=None, mongo=None)
    app.include_router(api.router)
    app.state.db = scratch_db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mentoring") as c:
        yield c


TEXTS = [f"item {n}" for n in range(1, 11)]


async def test_the_member_answers_and_reads_their_history_and_nobody_else_reads_answers(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    member = tokens("m1", "org-a", Role.MEMBER)
    empty = await client.get("/mentoring/barc10/questionnaire", headers=member)
    assert (
        empty.status_code == 200
        and empty.json()["note"]
        and empty.json()["items"][0] == {"number": 1, "text": None}
    )

    posted = await client.post("/mentoring/barc10", json={"answers": [3] * 10}, headers=member)
    assert posted.status_code == 201, posted.text
    assert posted.json()["response"]["total"] == 30 and posted.json()["response"]["counted"]
    mine = await client.get("/mentoring/me/barc10", headers=member)
    assert [r["answers"] for r in mine.json()["responses"]] == [[3] * 10]

    other = await client.get("/mentoring/me/barc10", headers=tokens("m1", "org-b", Role.MEMBER))
    assert other.json()["responses"] == []  # the same sub in another organization is someone else
    mentor = await client.get("/mentoring/me/barc10", headers=tokens("mentor-1", "org-a", Role.MENTOR))
    assert mentor.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"answers": [3] * 9},
        {"answers": [3] * 11},
        {"answers": [7] + [3] * 9},
        {"answers": [True] + [3] * 9},
        {"answers": ["3"] + [3] * 9},
        {"answers": [3.0] + [3] * 9},
        {"answers": [3] * 10, "note": "x"},
        {},
    ],
)
async def test_anything_but_ten_answers_1_to_6_is_a_422(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, object]
) -> None:
    answer = await client.post("/mentoring/barc10", json=body, headers=tokens("m1", "org-a", Role.MEMBER))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


async def test_the_org_admin_supplies_the_wording_and_members_read_it_in_their_language(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens("admin-1", "org-a", Role.ORG_ADMIN)
    body = {
        "languages": [{"lang": "en", "items": TEXTS}, {"lang": "es", "items": TEXTS, "scale": list("123456")}]
    }
    assert (await client.put("/mentoring/settings/barc10", json=body, headers=admin)).status_code == 200
    member = tokens("m1", "org-a", Role.MEMBER)
    es = (await client.get("/mentoring/barc10/questionnaire?lang=es", headers=member)).json()
    assert es["lang"] == "es" and es["items"][9] == {"number": 10, "text": "item 10"} and es["note"] is None
    elsewhere = (
        await client.get("/mentoring/barc10/questionnaire", headers=tokens("m1", "org-b", Role.MEMBER))
    ).json()
    assert elsewhere["lang"] is None
    twice = {"languages": [{"lang": "en", "items": TEXTS}, {"lang": "en", "items": TEXTS}]}
    assert (await client.put("/mentoring/settings/barc10", json=twice, headers=admin)).status_code == 422
    short = {"languages": [{"lang": "en", "items": TEXTS[:9]}]}
    assert (await client.put("/mentoring/settings/barc10", json=short, headers=admin)).status_code == 422
    assert (await client.put("/mentoring/settings/barc10", json=body, headers=member)).status_code == 403


async def test_the_report_is_for_coordinators_and_withholds_small_figures(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await client.post(
        "/mentoring/barc10", json={"answers": [3] * 10}, headers=tokens("m1", "org-a", Role.MEMBER)
    )
    report = await client.get("/mentoring/reports/barc10", headers=tokens("c1", "org-a", Role.COORDINATOR))
    assert report.status_code == 200
    assert report.json() == {"min_group": 5, "quarters": []}  # answered in this quarter: not shown yet
    assert (
        await client.get("/mentoring/reports/barc10", headers=tokens("m1", "org-a", Role.MEMBER))
    ).status_code == 403
