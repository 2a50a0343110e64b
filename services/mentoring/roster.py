"""Each organization's mentors as this process last saw them: what a request is ranked against.

Ranking needs every mentor of the organization, and on the local store reading them all is a scan
(about 110 ms for 200 mentors, DESIGN 5), too slow to do for every request. So a process keeps them,
reads them again once they are `max_age` old, and puts in what it writes itself at once. The
roster only orders the candidates: each proposal still claims its slot on the mentor's own document,
which checks capacity and fit afresh, so a stale roster can cost a failed claim (the next candidate
is tried) or leave out, for up to `max_age`, a mentor another replica just freed; a freed slot is
offered to the waiting list anyway (service.offer_free_slots).
"""

import asyncio
import time
from collections.abc import Callable

from services.mentoring import model, store
from services.mentoring.store import Db
from shared.outbox import OUTBOX

MAX_AGE_SECONDS = 5.0
MAX_MENTORS = 5000  # of one organization


class Roster:
    def __init__(self, max_age: float = MAX_AGE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age, self.clock = max_age, clock
        self._orgs: dict[str, tuple[float, dict[str, model.Slots]]] = {}
        self._reading: dict[str, asyncio.Lock] = {}

    async def mentors(self, db: Db, org: str) -> list[model.Slots]:
        seen = self._orgs.get(org)
        if seen is None or self.clock() - seen[0] >= self.max_age:
            async with self._reading.setdefault(org, asyncio.Lock()):  # one read for a burst of requests
                seen = self._orgs.get(org)
                if seen is None or self.clock() - seen[0] >= self.max_age:
                    read_at = self.clock()
                    docs = await store.mentors(db, org).find({}, limit=MAX_MENTORS, projection={OUTBOX: 0})
                    seen = (read_at, {d["mentor_id"]: store.doc_to_slots(d) for d in docs})
                    self._orgs[org] = seen
        return list(seen[1].values())

    def remember(self, slots: model.Slots) -> None:
        """A mentor as this process just wrote them."""
        seen = self._orgs.get(slots.profile.org)
        if seen is not None:
            seen[1][slots.profile.mentor_id] = slots


def uncached() -> Roster:
    """A roster that reads the store every time (scripts and tests that want no staleness at all)."""
    return Roster(max_age=0)
