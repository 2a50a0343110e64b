"""The inbox against the real document store: who reads which notifications."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from services.notifications import model, service, store
from shared.auth.principal import Principal, Role
from shared.messaging.publisher import PublishFailed

NOW = datetime(2026, 3, 1, tzinfo=UTC)
Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await store.ensure_indexes(scratch_db)
    return scratch_db


async def escalated(db: Db, org: str, to: str, minutes: int, **data: object) -> model.Notification:
    fields = {"case_id": f"case-{org}-{minutes}", "level": 1, "severity": "high", "responder_ids": [to]}
    event = CrisisEscalated.create(
        source="crisis", org=org, subject="x", data=CrisisEscalatedData.model_validate({**fields, **data})
    )
    (note,) = model.for_escalation(event, NOW + timedelta(minutes=minutes))
    await store.notifications(db, org).insert_one(store.to_doc(note))
    return note


def person(org: str, *roles: Role, regions: tuple[str, ...] = ()) -> Principal:
    return Principal(sub="pat", org=org, roles=frozenset(roles), regions=frozenset(regions))


async def ids(db: Db, caller: Principal) -> list[str]:
    return [n.id for n in await service.inbox(db, caller, 50)]


async def test_a_regional_responder_reads_their_regions_team_escalations_of_any_organization(
    db: Db,
) -> None:
    own = await escalated(db, "org-a", "pat", 1)
    team = await escalated(db, "org-b", "pat", 2, catch_all="regional_team", region="lakeshore")
    # Addressed to pat too, and as close to readable as each can be, but not theirs to read here.
    level = await escalated(db, "org-b", "pat", 3, region="lakeshore")  # B's own staff member pat
    elsewhere = await escalated(db, "org-b", "pat", 4, catch_all="regional_team", region="hills")
    somebody = await escalated(db, "org-b", "sam", 5, catch_all="regional_team", region="lakeshore")

    regional = person("org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore",))
    assert await ids(db, regional) == [team.id, own.id]
    assert await ids(db, person("org-c", Role.REGIONAL_RESPONDER, regions=("lakeshore",))) == [team.id]
    assert await ids(db, replace(regional, sub="sam")) == [somebody.id]
    both = person("org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore", "hills"))
    assert await ids(db, both) == [elsewhere.id, team.id, own.id]
    assert level.id in await ids(db, person("org-b", Role.RESPONDER))


async def test_nobody_else_reads_outside_their_organization(db: Db) -> None:
    own = await escalated(db, "org-a", "pat", 1)
    await escalated(db, "org-b", "pat", 2, catch_all="regional_team", region="lakeshore")
    for roles in ((Role.RESPONDER,), (Role.ORG_ADMIN,), (Role.NETWORK_ADMIN,)):
        # A region in the token does not widen the inbox of anyone but a regional responder.
        assert await ids(db, person("org-a", *roles, regions=("lakeshore",))) == [own.id], roles
    assert await ids(db, person("org-a", Role.REGIONAL_RESPONDER)) == [own.id]


class Publisher:
    """Records what would go to JetStream; `down` makes every publish fail, as when NATS is away."""

    def __init__(self, *, down: bool = False) -> None:
        self.down, self.sent = down, []  # type: list[str]

    def acknowledged(self, event_id: str) -> bool:
        return False

    async def publish_raw(self, event_type: str, subject: str, payload: bytes, event_id: str) -> None:
        if self.down:
            raise PublishFailed(event_id)
        self.sent.append(event_id)


async def test_a_redelivered_cause_announces_the_stored_notification_again_under_the_same_event_id(
    db: Db,
) -> None:
    data = CrisisEscalatedData(case_id="case-r", level=1, severity="high", responder_ids=["r1"])
    event = CrisisEscalated.create(source="crisis", org="org-r", subject="case-r", data=data)
    items = model.for_escalation(event, NOW)
    # The first delivery stores the notification and cannot announce it: the cause is not acknowledged.
    with pytest.raises(PublishFailed):
        await service.deliver(db, Publisher(down=True), items)  # type: ignore[arg-type]
    stored = await store.notifications(db, "org-r").find({})
    assert len(stored) == 1
    announcement = stored[0]["outbox"][0]["id"]

    # The cause comes again (a new process builds the same notification): announced, nothing doubled.
    again = Publisher()
    assert await service.deliver(db, again, model.for_escalation(event, NOW)) == 0  # type: ignore[arg-type]
    assert again.sent == [announcement]
    assert await store.notifications(db, "org-r").count() == 1
