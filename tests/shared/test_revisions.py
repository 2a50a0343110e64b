"""Compare-and-set by revision, on the real document store (where a filtered update alone races)."""

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.revisions import claims_of, write_revision


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
