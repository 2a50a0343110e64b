"""An organization's webhook gets each of its notifications once, signed per Standard Webhooks by the
shared sender, retried when its system is down; against the real document store and a real receiver."""

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from standardwebhooks import Webhook as Verifier

from services.notifications import service, store
from services.notifications.channels.webhook import Webhook
from services.notifications.live import Hub
from shared import webhooks
from shared.http import Problem
from tests.services.notifications.test_service import Adapter, Publisher, escalation
from tests.shared.test_webhooks import Receiver
from tests.shared.test_webhooks import receiver as receiver  # the fixture

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await store.ensure_indexes(scratch_db)
    return scratch_db


@pytest.fixture
async def senders(db: Db) -> AsyncIterator[service.Senders]:
    async with webhooks.client(allow_private=True, timeout=5) as client:
        adapters = {"email": Adapter("email"), "sms": Adapter("sms"), "webhook": Webhook(db, client)}
        yield service.Senders(adapters=adapters, link_bases={})  # type: ignore[arg-type]


async def test_every_notification_of_the_organization_is_posted_once_and_signed(
    db: Db, senders: service.Senders, receiver: Receiver
) -> None:
    secret = await service.register_webhook(db, "org-a", receiver.url, allow_private=True)
    event = escalation(responders=("r1", "r2"))
    for _ in range(2):  # and once more, redelivered
        await service.handle(db, Publisher(), senders, Hub(), event)
    assert len(receiver.received) == 2
    bodies = [Verifier(secret).verify(body, headers) for headers, body in receiver.received]
    assert sorted(b["recipient_id"] for b in bodies) == ["r1", "r2"]
    assert {b["org"] for b in bodies} == {"org-a"} and all(
        b["link"].endswith("#case-case-org-a") for b in bodies
    )
    # Another organization's notifications are not its to receive.
    await service.handle(db, Publisher(), senders, Hub(), escalation(org="org-b"))
    assert len(receiver.received) == 2


async def test_a_webhook_that_answers_500_is_tried_again_after_its_back_off(
    db: Db, senders: service.Senders, receiver: Receiver
) -> None:
    await service.register_webhook(db, "org-a", receiver.url, allow_private=True)
    receiver.status = 500
    await service.handle(db, Publisher(), senders, Hub(), escalation())
    (delivery,) = await db.deliveries.find({"channel": "webhook"}).to_list()
    assert (delivery["state"], delivery["attempts"]) == ("pending", 1)
    receiver.status = 204
    await service.attempt(
        db, Publisher(), senders, delivery["_id"], delivery["next_at"] + timedelta(seconds=1)
    )
    assert len(receiver.received) == 2
    assert json.loads(receiver.received[0][1])["id"] == json.loads(receiver.received[1][1])["id"]
    assert (await db.deliveries.find_one({"_id": delivery["_id"]}))["state"] == "delivered"  # type: ignore[index]


async def test_an_internal_address_is_refused_at_registration(db: Db, receiver: Receiver) -> None:
    with pytest.raises(Problem) as refused:
        await service.register_webhook(db, "org-a", receiver.url, allow_private=False)
    assert refused.value.status == 422
    assert not await store.has_webhook(db, "org-a")
