"""Meeting use cases: load, apply the model, save with the events, publish."""

import datetime as dt
import functools
from collections.abc import Callable
from datetime import UTC, datetime

from contracts.envelope import Event
from contracts.ids import new_id
from services.meetings import model, recurrence, store
from services.meetings.model import Listing, Meeting
from services.meetings.store import Db
from shared.http import NotFound, Problem
from shared.messaging.publisher import EventPublisher
from shared.outbox import appended, with_outbox, write_then_publish
from shared.revisions import REV, write_revision

MAX_RACES = 20


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def claim_first_free_slug(db: Db, wanted: str, meeting_id: str, org: str) -> str:
    """The wanted slug if it is free, else the first free numbered one."""
    for slug in model.slug_candidates(wanted):
        if await store.claim_slug(db, slug, meeting_id, org):
            return slug
    raise Problem(409, "Conflict", f"no free slug left for {wanted!r}")


async def create_meeting(
    db: Db,
    publisher: EventPublisher,
    org: str,
    listing: Listing,
    *,
    slug: str | None = None,
    meeting_id: str | None = None,
) -> Meeting:
    """A new meeting; `slug` is kept when free (an imported one), else derived from the name."""
    meeting_id = meeting_id or new_id()
    taken = await claim_first_free_slug(db, slug or model.slug_base(listing.name), meeting_id, org)
    meeting = Meeting(id=meeting_id, org=org, slug=taken, listing=listing, updated=utcnow())
    events = model.scheduled(meeting)
    insert = functools.partial(store.meetings(db, org).insert_one, with_outbox(store.to_doc(meeting), events))
    await write_then_publish(db.meetings, meeting.id, events, publisher, insert)
    return meeting


async def get_meeting(db: Db, org: str, meeting_id: str) -> Meeting:
    doc = await store.meetings(db, org).find_one({"_id": meeting_id})
    if doc is None:
        raise NotFound("meeting")
    return store.from_doc(doc)


async def public_meeting(db: Db, slug: str) -> Meeting:
    meeting = await store.meeting_by_slug(db, slug)
    if meeting is None:
        raise NotFound("meeting")
    return meeting


Change = Callable[[Meeting, list[str]], tuple[Meeting, list[Event]]]


async def change(db: Db, publisher: EventPublisher, org: str, meeting_id: str, apply: Change) -> Meeting:
    """Read, apply one rule of the model, write the next revision with its events; again on a race."""
    for _ in range(MAX_RACES):
        doc = await store.meetings(db, org).find_one({"_id": meeting_id})
        if doc is None:
            raise NotFound("meeting")
        meeting, events = apply(store.from_doc(doc), list(doc.get("saved_by", [])))
        if not events:
            return meeting
        after = store.to_doc(meeting)
        del after["_id"]
        stamp, pending = appended(events)
        write = functools.partial(
            write_revision, db.meetings, meeting_id, doc.get(REV, 0), {**after, **stamp}, pending
        )
        if await write_then_publish(db.meetings, meeting_id, events, publisher, write):
            return meeting
    raise RuntimeError(f"meeting {meeting_id} changed under us {MAX_RACES} times in a row")


def _active(m: Meeting) -> None:
    if m.cancelled:
        raise Problem(409, "Conflict", "the meeting is cancelled")


async def update_meeting(
    db: Db, publisher: EventPublisher, org: str, meeting_id: str, listing: Listing
) -> Meeting:
    def apply(m: Meeting, saved_by: list[str]) -> tuple[Meeting, list[Event]]:
        _active(m)
        return model.update(m, listing, utcnow(), saved_by)

    return await change(db, publisher, org, meeting_id, apply)


async def cancel_meeting(db: Db, publisher: EventPublisher, org: str, meeting_id: str) -> Meeting:
    return await change(db, publisher, org, meeting_id, lambda m, saved: model.cancel(m, utcnow(), saved))


def occurrence(m: Meeting, date: dt.date) -> recurrence.Occurrence:
    found = recurrence.occurrence_on(m, date)
    if found is None:
        raise Problem(422, "Unprocessable Content", f"the meeting has no occurrence on {date.isoformat()}")
    return found


async def cancel_occurrence(
    db: Db, publisher: EventPublisher, org: str, meeting_id: str, date: dt.date
) -> Meeting:
    def apply(m: Meeting, saved_by: list[str]) -> tuple[Meeting, list[Event]]:
        _active(m)
        return model.cancel_occurrence(m, date, occurrence(m, date).starts_at, utcnow(), saved_by)

    return await change(db, publisher, org, meeting_id, apply)


async def move_occurrence(
    db: Db, publisher: EventPublisher, org: str, meeting_id: str, date: dt.date, to: datetime
) -> Meeting:
    def apply(m: Meeting, saved_by: list[str]) -> tuple[Meeting, list[Event]]:
        _active(m)
        occurrence(m, date)
        if abs((to.date() - date).days) > 6:
            raise Problem(422, "Unprocessable Content", "an occurrence moves by less than a week")
        return model.move_occurrence(m, date, to, utcnow(), saved_by)

    return await change(db, publisher, org, meeting_id, apply)


async def save_meeting(db: Db, org: str, member: str, meeting_id: str) -> None:
    """Save a meeting of the member's own organization: its changes then reach them."""
    await get_meeting(db, org, meeting_id)
    await store.save(db, org, member, meeting_id)


async def unsave_meeting(db: Db, org: str, member: str, meeting_id: str) -> None:
    await store.unsave(db, org, member, meeting_id)


async def saved_meetings(db: Db, org: str, member: str) -> list[Meeting]:
    found = []
    for meeting_id in await store.saved_ids(db, org, member):
        doc = await store.meetings(db, org).find_one({"_id": meeting_id})
        if doc:
            found.append(store.from_doc(doc))
    return found
