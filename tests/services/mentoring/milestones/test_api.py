"""Recovery date routes over HTTP (in process, on the real document store)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.local.stack import Stack
from services.mentoring.milestones import api, store
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared.app import service_app
from shared.auth.principal import Role
from tests.conftest import Tokens


@pytest.fixture
async def client(stack: Stack, scratch_db: Db) -> AsyncIterator[httpx.AsyncClient]:
    await store.ensure_indexes(scratch_db)
    settings = Settings(jwt_public_key_file=stack.public_key, network_file=stack.network_file)
    app = service_app(settings, description="", tracer_provider=None, mongo=None)
    app.include_router(api.router)
    app.state.db = scratch_db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mentoring") as c:
        yield c


async def test_only_the_member_sets_reads_and_forgets_their_recovery_date(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    member = tokens("m1", "org-a", Role.MEMBER)
    assert (await client.get("/mentoring/me/recovery", headers=member)).status_code == 404
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata")).date()
    body = {
        "recovery_date": str(today - timedelta(days=31)),
        "time_zone": "Asia/Kolkata",
        "share_with": "mentor",
    }
    put = await client.put("/mentoring/me/recovery", json=body, headers=member)
    assert put.status_code == 200, put.text
    got = (await client.get("/mentoring/me/recovery", headers=member)).json()
    assert got["days"] == 31 and [m["milestone"] for m in got["reached"]] == ["24h", "30d"]
    assert got["next"]["milestone"] == "60d" and got["share_with"] == "mentor"

    assert (
        await client.get("/mentoring/me/recovery", headers=tokens("m1", "org-b", Role.MEMBER))
    ).status_code == 404
    mentor = tokens("mentor-1", "org-a", Role.MENTOR)
    assert (await client.get("/mentoring/me/recovery", headers=mentor)).status_code == 403

    assert (await client.delete("/mentoring/me/recovery", headers=member)).status_code == 204
    assert (await client.get("/mentoring/me/recovery", headers=member)).status_code == 404
    assert (await client.delete("/mentoring/me/recovery", headers=member)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"recovery_date": "2999-01-01", "time_zone": "UTC"},
        {"recovery_date": "1899-12-31", "time_zone": "UTC"},
        {"recovery_date": "2024-01-01", "time_zone": "Mars/Olympus"},
        {"recovery_date": "2024-01-01", "time_zone": "UTC", "share_with": "everyone"},
        {"recovery_date": 20240101, "time_zone": "UTC"},
        {"recovery_date": "2024-02-30", "time_zone": "UTC"},
        {"time_zone": "UTC"},
    ],
)
async def test_a_bad_recovery_date_zone_or_audience_is_a_422(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, object]
) -> None:
    answer = await client.put("/mentoring/me/recovery", json=body, headers=tokens("m1", "org-a", Role.MEMBER))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_new_date_after_an_earlier_one_answers_that_sharing_is_back_to_nobody(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    member = tokens("m1", "org-a", Role.MEMBER)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata")).date()
    body = {
        "recovery_date": str(today - timedelta(days=40)),
        "time_zone": "Asia/Kolkata",
        "share_with": "mentor",
    }
    first = (await client.put("/mentoring/me/recovery", json=body, headers=member)).json()
    assert first["share_with"] == "mentor" and first["note"] is None

    reset = (
        await client.put("/mentoring/me/recovery", json={**body, "recovery_date": str(today)}, headers=member)
    ).json()

    assert reset["share_with"] == "nobody" and "choose again" in reset["note"]
    chosen = (
        await client.put("/mentoring/me/recovery", json={**body, "recovery_date": str(today)}, headers=member)
    ).json()
    assert chosen["share_with"] == "mentor" and chosen["note"] is None
