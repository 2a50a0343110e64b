"""MongoDB access through PyMongo's async API, scoped to one organization by default.

Only the portable subset that MongoDB and the local FerretDB store share is used: single-
document atomic writes, find_one_and_update, unique indexes, upserts (DESIGN.md section 5).
"""

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import TracerProvider
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.dbtrace import CommandSpans
from shared.settings import ServiceSettings

Document = dict[str, Any]


def connect(
    settings: ServiceSettings, tracer_provider: TracerProvider | None = None
) -> AsyncMongoClient[Document]:
    listeners = [CommandSpans(tracer_provider)] if tracer_provider else []
    return AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, appname=settings.service_name, event_listeners=listeners
    )


def database(client: AsyncMongoClient[Document], settings: ServiceSettings) -> AsyncDatabase[Document]:
    return client[settings.database_name]


class OrgCollection:
    """A collection seen from inside one organization: every read and write carries `org`.

    Handlers get one of these from the verified token, so forgetting the filter is not possible.
    """

    def __init__(self, collection: AsyncCollection[Document], org: str) -> None:
        if not org:
            raise ValueError("an organization is required")
        self.raw = collection
        self.org = org

    def _scoped(self, filter_: Mapping[str, Any] | None) -> Document:
        return {**(filter_ or {}), "org": self.org}

    async def insert_one(self, document: Document) -> None:
        await self.raw.insert_one({**document, "org": self.org})

    async def find_one(self, filter_: Mapping[str, Any]) -> Document | None:
        return await self.raw.find_one(self._scoped(filter_))

    async def find(
        self,
        filter_: Mapping[str, Any] | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int = 100,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        cursor = self.raw.find(self._scoped(filter_), projection, sort=sort, limit=limit)
        return [doc async for doc in cursor]

    async def find_one_and_update(
        self, filter_: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        return await self.raw.find_one_and_update(
            self._scoped(filter_), update, upsert=upsert, return_document=ReturnDocument.AFTER
        )

    async def delete_many(self, filter_: Mapping[str, Any] | None = None) -> int:
        return (await self.raw.delete_many(self._scoped(filter_))).deleted_count

    async def count(self, filter_: Mapping[str, Any] | None = None) -> int:
        return await self.raw.count_documents(self._scoped(filter_))
