"""Notification documents; the unique index makes a redelivered cause event a no-op."""

from dataclasses import asdict
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.model import Notification
from shared.outbox import OUTBOX_FIELDS
from shared.storage import OrgCollection

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db.notifications.create_index(
        [("org", ASCENDING), ("cause_event_id", ASCENDING), ("recipient_id", ASCENDING)], unique=True
    )
    await db.notifications.create_index(
        [("org", ASCENDING), ("recipient_id", ASCENDING), ("created_at", DESCENDING)]
    )


def notifications(db: AsyncDatabase[Document], org: str) -> OrgCollection:
    return OrgCollection(db.notifications, org)


def to_doc(n: Notification) -> Document:
    doc = asdict(n)
    doc["_id"] = doc.pop("id")
    return doc


def from_doc(doc: Document) -> Notification:
    return Notification(id=doc["_id"], **{k: v for k, v in doc.items() if k not in OUTBOX_FIELDS})
