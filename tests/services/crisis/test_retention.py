"""Crisis retention on the real document store: attempt logs and finished deliveries go after their
ages, the audit trails only after their own, much longer one."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from services.crisis.retention import retention_round
from services.crisis.settings import Settings
from shared.revisions import claims_of, write_revision

Db = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
AGES = {
    "attempts_age": timedelta(days=30),
    "deliveries_age": timedelta(days=7),
    "audit_age": timedelta(days=2555),
}


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


async def ids(db: Db, name: str) -> set[Any]:
    return {d["_id"] async for d in db[name].find({}, {"_id": 1})}


async def test_webhook_attempts_go_after_their_age(scratch_db: Db) -> None:
    attempt = {"org": "org-a", "delivery_id": "e1", "case_id": "c1", "attempt": 1, "ok": True}
    await scratch_db.webhook_attempts.insert_many(
        [{**attempt, "_id": "old", "at": days_ago(31)}, {**attempt, "_id": "young", "at": days_ago(29)}]
    )

    counts = await retention_round(scratch_db, now=NOW, **AGES)

    assert counts["webhook_attempts"] == 1
    assert await ids(scratch_db, "webhook_attempts") == {"young"}


async def test_finished_deliveries_go_with_their_claims_after_their_age(scratch_db: Db) -> None:
    def delivery(event_id: str, state: str, last_attempt: datetime) -> dict[str, Any]:
        return {"_id": event_id, "org": "org-a", "case_id": "c1", "body": "{}", "attempts": 1,
                "state": state, "next_at": last_attempt, "rev": 0}  # fmt: skip

    deliveries = scratch_db.webhook_deliveries
    await deliveries.insert_many(
        [
            delivery("delivered-long-ago", "pending", days_ago(8)),
            delivery("failed-long-ago", "pending", days_ago(8)),
            delivery("delivered-lately", "pending", days_ago(6)),
            delivery("still-trying", "pending", days_ago(8)),  # an endpoint down for long
        ]
    )
    for event_id, state in [("delivered-long-ago", "delivered"), ("failed-long-ago", "failed"),
                            ("delivered-lately", "delivered")]:  # fmt: skip
        assert await write_revision(deliveries, event_id, 0, {"state": state})

    counts = await retention_round(scratch_db, now=NOW, **AGES)

    assert counts["webhook_deliveries"] == 2
    assert await ids(scratch_db, "webhook_deliveries") == {"delivered-lately", "still-trying"}
    assert await ids(scratch_db, claims_of(deliveries).name) == {"delivered-lately:0"}


async def test_the_audit_trails_outlive_every_other_age_and_go_only_after_their_own(scratch_db: Db) -> None:
    line = {"org": "org-a", "case_id": "c1", "reader": "responder-1", "action": "read"}
    change = {"region": "lakeshore", "changed_by": "admin-1", "responder_ids": ["r1"]}
    for name, doc in [("audit", line), ("regional_team_changes", change)]:
        await scratch_db[name].insert_many(
            [
                {**doc, "_id": "past-its-age", "at": days_ago(2556)},
                {**doc, "_id": "past-every-other-age", "at": days_ago(400)},
            ]
        )

    counts = await retention_round(scratch_db, now=NOW, **AGES)

    assert counts["audit"] == counts["regional_team_changes"] == 1
    assert await ids(scratch_db, "audit") == {"past-every-other-age"}
    assert await ids(scratch_db, "regional_team_changes") == {"past-every-other-age"}


def test_deliveries_kept_no_longer_than_the_duplicate_window_are_refused(tmp_path: Path) -> None:
    key = tmp_path / "dev.pub.pem"
    with pytest.raises(ValidationError, match="duplicate window"):
        Settings(jwt_public_key_file=key, webhook_deliveries_retention_hours=1 / 60)  # a minute
    assert (
        Settings(jwt_public_key_file=key, webhook_deliveries_retention_hours=1).audit_retention_days == 2555
    )
