"""Meeting use cases."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.meetings import model, store
from shared.messaging.publisher import EventPublisher
from shared.outbox import publish_now_or_later, with_outbox


async def create_meeting(
    db: AsyncDatabase[dict[str, Any]], publisher: EventPublisher, meeting: model.Meeting
) -> None:
    events = model.schedule_weekly(meeting)
    await store.meetings(db, meeting.org).insert_one(with_outbox(store.to_doc(meeting), events))
    await publish_now_or_later(events, publisher)
