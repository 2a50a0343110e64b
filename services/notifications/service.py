"""Notification use cases."""

import functools
import logging

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notifications import model, store
from shared.auth.principal import Principal
from shared.messaging.publisher import EventPublisher
from shared.outbox import with_outbox, write_then_publish
from shared.storage import Document

log = logging.getLogger(__name__)


async def deliver(
    db: AsyncDatabase[Document], publisher: EventPublisher, items: list[model.Notification]
) -> int:
    """Store each in-app notification once and announce it; returns how many were new.

    A redelivered cause event meets the unique index and changes nothing; if publishing the
    announcement fails, the outbox relay publishes it later.
    """
    created = 0
    for item in items:
        events = [model.delivered(item)]
        doc = with_outbox(store.to_doc(item), events)
        insert = functools.partial(store.notifications(db, item.org).insert_one, doc)
        try:
            await write_then_publish(db.notifications, item.id, events, publisher, insert)
            created += 1
        except DuplicateKeyError:
            log.debug("notification for %s/%s exists already", item.cause_event_id, item.recipient_id)
    return created


async def inbox(db: AsyncDatabase[Document], caller: Principal, limit: int) -> list[model.Notification]:
    """The caller's notifications, newest first: their organization's (from the token, never the
    request), and for a regional responder those addressed to them from their regions' cases."""
    docs = await store.inbox(db, caller.org, caller.sub, model.team_regions(caller), limit)
    return [store.from_doc(d) for d in docs]
