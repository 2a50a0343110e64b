"""Retention rounds on the real document store: what is old and done goes, everything else stays."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from shared import retention
from shared.outbox import intents_of
from shared.revisions import claims_of, write_revision

Db = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY = timedelta(days=1)
OLD, YOUNG = NOW - 2 * DAY, NOW - timedelta(hours=1)


def claim(doc_id: object, rev: int, at: datetime, **write: Any) -> dict[str, Any]:
    return {"_id": f"{doc_id}:{rev}", "at": at, "set": write, "push": {}}


async def claim_ids(db: Db, name: str) -> set[str]:
    return {c["_id"] async for c in db[name].find({}, {"_id": 1})}


async def test_old_applied_claims_go_while_young_and_unapplied_ones_stay(scratch_db: Db) -> None:
    docs = scratch_db.docs
    mentor = ObjectId()  # documents keyed by an ObjectId have claims too (mentoring)
    await docs.insert_many([{"_id": "a", "rev": 3}, {"_id": "b", "rev": 5}, {"_id": mentor, "rev": 1}])
    await claims_of(docs).insert_many(
        [
            claim("a", 0, OLD), claim("a", 1, OLD), claim("a", 2, OLD),
            claim("a", 3, OLD, state="acknowledged"),  # its writer died before applying it
            claim("b", 4, YOUNG),  # applied, but a writer may still hold the read it came from
            claim("gone", 0, OLD),  # the document was deleted
            claim(mentor, 0, OLD), claim(mentor, 1, OLD),
        ]
    )  # fmt: skip

    counts = await retention.shared_round(scratch_db, [], now=NOW, claims_age=DAY, outbox_age=DAY)

    assert counts == {"docs_claims": 5}
    assert await claim_ids(scratch_db, "docs_claims") == {"a:3", "b:4", f"{mentor}:1"}
    # The claim whose winner died is still applied by the next writer, as if nothing was deleted.
    assert await write_revision(docs, "a", 3, {"state": "cancelled"}) is False
    assert await docs.find_one({"_id": "a"}) == {"_id": "a", "rev": 4, "state": "acknowledged"}


async def test_claims_kept_in_front_of_the_scan_do_not_stall_a_round(
    scratch_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "PAUSE", 0)
    docs = scratch_db.docs
    await docs.insert_many([{"_id": f"d{i}", "rev": 0} for i in range(3)] + [{"_id": "e", "rev": 9}])
    unapplied = [claim(f"d{i}", 0, OLD) for i in range(3)]
    await claims_of(docs).insert_many(unapplied + [claim("e", n, OLD) for n in range(5)])

    assert await retention.trim_claims(docs, now=NOW, age=DAY) == 5
    assert await claim_ids(scratch_db, "docs_claims") == {"d0:0", "d1:0", "d2:0"}


def entry(event_id: str) -> dict[str, str]:
    return {"id": event_id, "type": "t.v1", "subject": "rn.org-a.t.v1", "payload": "{}"}


def outbox_doc(doc_id: str, total: int, *, at: datetime, rev: int = 4) -> dict[str, Any]:
    return {
        "_id": doc_id,
        "org": "org-a",
        "name": "Tuesday Group",
        "rev": rev,
        "outbox": [entry(f"{doc_id}-e{i}") for i in range(total)],
        "outbox_at": at,
    }


async def test_published_outbox_entries_of_a_quiet_document_are_dropped_and_nothing_else(
    scratch_db: Db,
) -> None:
    meetings = scratch_db.meetings
    quiet = outbox_doc("quiet", 2, at=OLD)
    waiting = outbox_doc("waiting", 3, at=OLD)  # the relay's: an intent says its last entry is not published
    recent = outbox_doc("recent", 2, at=YOUNG)
    await meetings.insert_many([quiet, waiting, recent])
    intent = {
        "_id": "meetings:waiting:waiting-e2",
        "collection": "meetings",
        "doc": "waiting",
        "events": ["waiting-e2"],
    }
    await intents_of(meetings).insert_one({**intent, "at": OLD})

    counts = await retention.shared_round(scratch_db, [meetings], now=NOW, claims_age=DAY, outbox_age=DAY)

    assert counts["meetings.outbox"] == 2
    trimmed = await meetings.find_one({"_id": "quiet"})
    assert trimmed == {**quiet, "outbox": [], "outbox_at": None, "rev": 5}
    assert await meetings.find_one({"_id": "waiting"}) == waiting
    assert await meetings.find_one({"_id": "recent"}) == recent
    assert await retention.trim_outboxes(meetings, now=NOW, age=DAY) == 0  # a trimmed one is not met again


async def test_a_trim_never_overwrites_a_change_that_came_first(scratch_db: Db) -> None:
    meetings = scratch_db.meetings
    await meetings.insert_one(outbox_doc("m", 2, at=OLD))
    # A writer claimed revision 4 to append an event, and had not applied it when the round read the document.
    appended = {
        "_id": "m:4",
        "at": NOW,
        "set": {"outbox_at": NOW},
        "push": {"outbox": [entry("new")]},
    }
    await claims_of(meetings).insert_one(appended)

    assert await retention.trim_outboxes(meetings, now=NOW, age=DAY) == 0
    doc = await meetings.find_one({"_id": "m"})
    assert doc is not None and doc["rev"] == 5 and doc["outbox_at"] == NOW
    assert [e["id"] for e in doc["outbox"]] == ["m-e0", "m-e1", "new"]


async def test_a_failed_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[datetime] = []
    second = asyncio.Event()

    async def round_(now: datetime) -> retention.Counts:
        rounds.append(now)
        if len(rounds) == 1:
            raise ConnectionError("store unreachable")
        second.set()
        return {"docs_claims": 3}

    job = asyncio.create_task(retention.run_forever("test", round_, 0.01, clock=lambda: NOW))
    await asyncio.wait_for(second.wait(), timeout=5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert "test retention round failed" in caplog.text
