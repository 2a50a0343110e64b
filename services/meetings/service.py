"""Meeting use cases."""

import functools
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.meetings import model, store
from shared.messaging.publisher import EventPublisher
from shared.outbox import with_outbox, write_then_publish


async def create_meeting(
    db: AsyncDatabase[dict[str, Any]], publisher: EventPublisher, meeting: model.Meeting
) -> None:
    events = model.schedule_weekly(meeting)
    insert = functools.partial(
        store.meetings(db, meeting.org).insert_one, with_outbox(store.to_doc(meeting), events)
    )
    await write_then_publish(db.meetings, meeting.id, events, publisher, insert)
