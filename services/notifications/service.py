"""Notification use cases."""

import logging

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notifications import model, store
from shared.auth.principal import Principal
from shared.messaging.publisher import EventPublisher
from shared.outbox import OUTBOX, publish_entries, with_outbox
from shared.storage import Document

log = logging.getLogger(__name__)


async def deliver(
    db: AsyncDatabase[Document], publisher: EventPublisher, items: list[model.Notification]
) -> int:
    """Store each in-app notification once and announce it; returns how many were new.

    The cause event is acknowledged only after this returns, so it is its own outbox relay: if the
    process dies, or publishing fails, between the write and the announcement, the cause is
    delivered again, meets the stored notification (same id) and publishes the announcement from
    it, with the same event id (JetStream drops a copy it already holds). No outbox intent needed.
    """
    created = 0
    for item in items:
        notifications = store.notifications(db, item.org)
        doc = with_outbox(store.to_doc(item), [model.delivered(item)])
        try:
            await notifications.insert_one(doc)
            created += 1
        except DuplicateKeyError:
            log.debug("notification %s exists already: announced again", item.id)
            doc = await notifications.find_one({"_id": item.id}) or {}
        await publish_entries(doc.get(OUTBOX, []), publisher)
    return created


async def inbox(db: AsyncDatabase[Document], caller: Principal, limit: int) -> list[model.Notification]:
    """The caller's notifications, newest first: their organization's (from the token, never the
    request), and for a regional responder those addressed to them from their regions' cases."""
    docs = await store.inbox(db, caller.org, caller.sub, model.team_regions(caller), limit)
    return [store.from_doc(d) for d in docs]
