"""Mentoring retention: check-ins, the one record that grows every day of a match, and the check-in
state of matches that ended, after their age.

Everything else a member has is one document (their request and match, recovery date) or grows a few
times a year (BARC-10 answers, milestones). Claims and published outbox entries are the shared job's
(shared.retention).
"""

from datetime import datetime, timedelta

from services.mentoring.checkins import store as checkins_store
from services.mentoring.settings import Settings
from services.mentoring.store import Db
from shared.retention import Counts, delete_old, run_forever


async def retention_round(db: Db, *, now: datetime, check_ins_age: timedelta) -> Counts:
    return {
        "check_ins": await delete_old(db.check_ins, {"at": {"$lt": now - check_ins_age}}),
        "check_in_pairs": await checkins_store.forget_ended_pairs(db, now - check_ins_age),
        "drift_notices": await delete_old(
            checkins_store.drift_notices(db), {"at": {"$lt": now - check_ins_age}}
        ),
    }


async def run_retention(db: Db, settings: Settings) -> None:
    async def round_(now: datetime) -> Counts:
        return await retention_round(
            db, now=now, check_ins_age=timedelta(days=settings.check_in_retention_days)
        )

    await run_forever("mentoring", round_, settings.retention_interval_seconds)
