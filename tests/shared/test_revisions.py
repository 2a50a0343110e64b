"""Compare-and-set by revision, on the real document store (where a filtered update alone races)."""

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.revisions import Busy, change, claims_of, write_revision


async def test_exactly_one_of_two_racing_writers_wins_each_revision(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    docs = scratch_db.docs
    wins = []
    for i in range(50):
        await docs.insert_one({"_id": f"d{i}", "rev": 0, "by": None})
        results = await asyncio.gather(
            write_revision(docs, f"d{i}", 0, {"by": "a"}, {"log": ["a"]}),
            write_revision(docs, f"d{i}", 0, {"by": "b"}, {"log": ["b"]}),
        )
        wins.append(results)
        doc = await docs.find_one({"_id": f"d{i}"})
        assert doc is not None and doc["rev"] == 1
        winner = "a" if results[0] else "b"
        assert doc["by"] == winner and set(doc["log"]) == {winner}
    assert all(sum(pair) == 1 for pair in wins)


async def test_a_write_claimed_by_a_writer_that_died_is_applied_by_the_next(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    docs = scratch_db.docs
    await docs.insert_one({"_id": "d", "rev": 3, "state": "triggered"})
    # The first writer inserted its claim for revision 3, then died before applying it.
    await claims_of(docs).insert_one({"_id": "d:3", "at": None, "set": {"state": "acknowledged"}, "push": {}})

    assert await write_revision(docs, "d", 3, {"state": "cancelled"}) is False
    assert await docs.find_one({"_id": "d"}) == {"_id": "d", "rev": 4, "state": "acknowledged"}
    assert await write_revision(docs, "d", 4, {"state": "cancelled"}) is True
    assert await write_revision(docs, "d", 3, {"state": "triggered"}) is False  # a stale read never wins
    assert await docs.find_one({"_id": "d"}) == {"_id": "d", "rev": 5, "state": "cancelled"}


async def test_a_change_writes_the_next_revision_and_returns_the_document_as_written(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    docs = scratch_db.docs
    await docs.insert_one({"_id": "d", "rev": 2, "count": 1, "log": ["a"]})

    written = await change(docs, "d", lambda d: {"count": d["count"] + 1}, push=lambda d: {"log": ["b"]})

    assert written == {"_id": "d", "rev": 3, "count": 2, "log": ["a", "b"]}
    assert await docs.find_one({"_id": "d"}) == written


async def test_a_change_with_nothing_to_do_or_no_document_writes_nothing(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    docs = scratch_db.docs
    await docs.insert_one({"_id": "d", "rev": 0, "count": 1})

    assert await change(docs, "d", lambda d: None) is None
    assert await change(docs, "absent", lambda d: {"count": 5}) is None
    assert await docs.find_one({"_id": "d"}) == {"_id": "d", "rev": 0, "count": 1}
    assert await docs.find_one({"_id": "absent"}) is None


async def test_racing_changes_each_decide_on_what_the_others_wrote(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    docs = scratch_db.docs
    await docs.insert_one({"_id": "d", "rev": 0, "count": 0})

    await asyncio.gather(*(change(docs, "d", lambda d: {"count": d["count"] + 1}) for _ in range(5)))

    assert await docs.find_one({"_id": "d"}) == {"_id": "d", "rev": 5, "count": 5}


async def test_a_change_that_keeps_losing_its_revision_gives_up_busy(
    scratch_db: AsyncDatabase[dict[str, Any]],
) -> None:
    docs = scratch_db.docs
    await docs.insert_one({"_id": "d", "rev": 0, "count": 0})
    # Other writers have claimed each of the next three revisions before this one gets to write.
    for rev in range(3):
        await claims_of(docs).insert_one({"_id": f"d:{rev}", "at": None, "set": {"count": -1}, "push": {}})

    with pytest.raises(Busy):
        await change(docs, "d", lambda d: {"count": d["count"] + 1}, races=3)
    assert await docs.find_one({"_id": "d"}) == {"_id": "d", "rev": 3, "count": -1}
