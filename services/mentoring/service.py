"""Mentoring use cases."""

import functools
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Event
from services.mentoring import model, store
from shared.messaging.publisher import EventPublisher
from shared.outbox import appended, write_then_publish
from shared.revisions import REV, write_revision

Db = AsyncDatabase[dict[str, Any]]
MAX_RACES = 20


async def register_mentor(db: Db, mentor: model.Mentor) -> model.Mentor:
    """Create or update a mentor; their current mentee count is kept."""
    doc = await store.mentors(db, mentor.org).find_one_and_update(
        {"mentor_id": mentor.mentor_id},
        # `$inc` by 0 gives a mentor registered before revisions existed its first one.
        {"$set": store.mentor_to_doc(mentor), "$setOnInsert": {"active_mentees": 0}, "$inc": {REV: 0}},
        upsert=True,
    )
    assert doc is not None
    return store.doc_to_mentor(doc)


async def request_mentor(
    db: Db, publisher: EventPublisher, request: model.MentorRequest
) -> model.Match | None:
    """Propose the best available mentor, or leave the request waiting when nobody is free.

    Claiming the mentor's slot and recording the MatchProposed event are one revision of the
    mentor's document (shared.revisions): two requests at once can never push a mentor past their
    capacity, and a crash cannot take a slot without its event.
    """
    mentors = [store.doc_to_mentor(d) for d in await store.mentors(db, request.org).find({}, limit=1000)]
    match = None
    for match_score, mentor in model.ranked(mentors, request):
        proposal = model.propose(mentor, request, match_score)
        if await _claim_slot(db, publisher, request.org, mentor.mentor_id, proposal.events):
            match = proposal
            break
    doc = {
        "_id": request.id,
        "member_id": request.member_id,
        "languages": list(request.languages),
        "focus": list(request.focus),
        "status": "proposed" if match else "waiting",
        **(store.match_fields(match) if match else {}),
    }
    await store.requests(db, request.org).insert_one(doc)
    return match


async def _claim_slot(
    db: Db, publisher: EventPublisher, org: str, mentor_id: str, events: list[Event]
) -> bool:
    """Take one of the mentor's free slots, with the events that announce it; False if none is left."""
    for _ in range(MAX_RACES):
        doc = await store.mentors(db, org).find_one({"mentor_id": mentor_id})
        if doc is None or not doc["accepting"] or doc["active_mentees"] >= doc["capacity"]:
            return False
        stamp, pending = appended(events)
        taken = {"active_mentees": doc["active_mentees"] + 1, **stamp}
        write = functools.partial(write_revision, db.mentors, doc["_id"], doc.get(REV, 0), taken, pending)
        if await write_then_publish(db.mentors, doc["_id"], events, publisher, write):
            return True
    return False


async def get_request(db: Db, org: str, request_id: str) -> dict[str, Any] | None:
    return await store.requests(db, org).find_one({"_id": request_id})


async def get_mentor(db: Db, org: str, mentor_id: str) -> model.Mentor | None:
    doc = await store.mentors(db, org).find_one({"mentor_id": mentor_id})
    return store.doc_to_mentor(doc) if doc else None
