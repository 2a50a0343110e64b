"""BARC-10 responses and reports against the real document store."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from contracts.ids import new_id
from services.mentoring.capital import model, service, store
from services.mentoring.store import Db
from shared.http import Problem

T0 = datetime(2025, 1, 10, 9, tzinfo=UTC)


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await store.ensure_indexes(scratch_db)
    return scratch_db


async def test_a_member_sees_their_responses_trend_and_next_due_date(db: Db) -> None:
    org = f"org-{new_id()[-6:]}"
    await service.respond(db, org, "m1", [3] * 10, 90, T0)
    early, _ = await service.respond(db, org, "m1", [4] * 10, 90, T0 + timedelta(days=10))
    due, history = await service.respond(db, org, "m1", [5] * 10, 90, T0 + timedelta(days=90))
    assert (early.counted, due.counted) == (False, True)
    assert [r.total for r in history.responses] == [30, 40, 50]
    assert history.trend == model.Trend(first=30, previous=40, latest=50, since_first=20, since_previous=10)
    again = await service.member_history(db, org, "m1", 90, T0 + timedelta(days=91))
    assert again.responses == history.responses and not again.due_now
    assert (await service.member_history(db, "org-other", "m1", 90, T0)).responses == []


async def test_responses_sent_at_once_all_land_and_only_one_counts_as_the_intake(db: Db) -> None:
    org = f"org-{new_id()[-6:]}"
    await asyncio.gather(*(service.respond(db, org, "m1", [2] * 10, 90, T0) for _ in range(4)))
    history = await service.member_history(db, org, "m1", 90, T0)
    assert [r.counted for r in history.responses] == [True, False, False, False]


async def test_bad_answers_are_a_422_and_nothing_is_stored(db: Db) -> None:
    org = f"org-{new_id()[-6:]}"
    with pytest.raises(Problem) as refused:
        await service.respond(db, org, "m1", [3] * 9, 90, T0)
    assert refused.value.status == 422
    assert await store.member(db, org, "m1") is None


async def test_the_report_withholds_figures_until_five_members_answered(db: Db) -> None:
    org, later = f"org-{new_id()[-6:]}", T0 + timedelta(days=100)
    for i in range(4):
        await service.respond(db, org, f"m{i}", [3] * 10, 90, T0)
    (q1,) = (await service.org_report(db, org, 5, later)).quarters
    assert q1.intake.withheld is not None
    await service.respond(db, org, "m4", [4] * 10, 90, T0)
    await service.respond(db, "org-other", "x", [6] * 10, 90, T0)  # another organization's: not counted
    (q1,) = (await service.org_report(db, org, 5, later)).quarters
    assert q1.intake == model.Figure(5, 32, 30)
    assert q1.latest.withheld is not None


async def test_reading_the_report_before_and_after_one_member_answers_shows_nothing_of_them(db: Db) -> None:
    org, later = f"org-{new_id()[-6:]}", T0 + timedelta(days=100)
    for i in range(6):
        await service.respond(db, org, f"m{i}", [3] * 10, 90, T0)
    before = await service.org_report(db, org, 5, later)
    await service.respond(db, org, "m6", [6] * 10, 90, later)
    assert await service.org_report(db, org, 5, later) == before
