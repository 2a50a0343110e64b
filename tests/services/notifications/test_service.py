"""Delivery and the inbox against the real document store, with recording channel adapters and a
publisher that collects events: once per channel, retries, fallback, quiet hours, digests, and who
reads which notifications."""

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import (
    CrisisEscalated,
    CrisisEscalatedData,
    CrisisFollowUpScheduled,
    CrisisFollowUpScheduledData,
)
from contracts.mentoring import MatchProposed, MatchProposedData
from services.notifications import model, service, store
from services.notifications.channels import Outcome, Outgoing
from services.notifications.live import Hub
from shared.auth.principal import Principal, Role
from shared.messaging.publisher import PublishFailed

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await store.ensure_indexes(scratch_db)
    return scratch_db


class Publisher:
    """Records what would go to JetStream; `down` makes every publish fail, as when NATS is away."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.sent: list[tuple[str, bytes]] = []
        self.attempted: list[str] = []

    def acknowledged(self, event_id: str) -> bool:
        return False

    async def publish_raw(self, event_type: str, subject: str, payload: bytes, event_id: str) -> None:
        self.attempted.append(event_id)
        if self.down:
            raise PublishFailed(event_id)
        self.sent.append((event_type, payload))

    async def publish_many(self, entries: list[dict[str, str]]) -> None:
        for e in entries:
            await self.publish_raw(e["type"], e["subject"], e["payload"].encode(), e["id"])

    def types(self) -> list[str]:
        return [t for t, _ in self.sent]


@dataclass
class Adapter:
    """A channel that records what it sends and answers the outcomes it is given, in turn."""

    channel: str
    outcomes: list[Outcome] = field(default_factory=list)
    sent: list[Outgoing] = field(default_factory=list)
    delay: float = 0.0

    async def send(self, out: Outgoing) -> Outcome:
        self.sent.append(out)
        await asyncio.sleep(self.delay)
        return self.outcomes.pop(0) if self.outcomes else Outcome(ok=True)


def senders(**adapters: Adapter) -> service.Senders:
    chosen = {"email": Adapter("email"), "sms": Adapter("sms"), **adapters}
    return service.Senders(adapters=chosen, link_bases={"crisis": "https://crisis.test"})  # type: ignore[arg-type]


def escalation(org: str = "org-a", responders: tuple[str, ...] = ("pat",), **data: object) -> CrisisEscalated:
    fields = {
        "case_id": f"case-{org}",
        "level": 1,
        "severity": "high",
        "responder_ids": list(responders),
        **data,
    }
    return CrisisEscalated.create(
        source="crisis", org=org, subject="c", data=CrisisEscalatedData.model_validate(fields)
    )


async def pat(db: Db, org: str = "org-a", **fields: Any) -> model.Person:
    person = model.Person(id="pat", org=org, email="pat@example.org", phone="+13125550100", **fields)
    await store.save_person(db, person, store.person_to_doc(person), by="pat", confirmed=True)
    return person


async def test_an_escalation_reaches_the_responder_on_every_channel_they_have(db: Db) -> None:
    await pat(db, language="es")
    channels, publisher = senders(), Publisher()
    assert await service.handle(db, publisher, channels, Hub(), escalation()) == 1
    sms, email = channels.adapters["sms"], channels.adapters["email"]
    assert [o.person.phone for o in sms.sent] == ["+13125550100"]  # type: ignore[attr-defined]
    (out,) = email.sent  # type: ignore[attr-defined]
    assert out.rendered.subject.startswith("Escalamiento de crisis")
    assert "https://crisis.test/crisis/console#case-case-org-a" in out.rendered.text
    (note,) = await service.inbox(db, principal("org-a"), 10)
    assert note.priority == "critical" and note.title == out.rendered.subject
    assert publisher.types().count("notifications.delivered.v2") == 3  # in-app, sms, email


async def test_a_redelivered_event_and_a_second_replica_send_nothing_twice(db: Db) -> None:
    await pat(db)
    channels = senders(email=Adapter("email", delay=0.2), sms=Adapter("sms", delay=0.2))
    event = escalation()
    # Two replicas handle the same event at the same time, then it is redelivered once more.
    await asyncio.gather(*(service.handle(db, Publisher(), channels, Hub(), event) for _ in range(2)))
    await service.handle(db, Publisher(), channels, Hub(), event)
    assert len(channels.adapters["email"].sent) == 1  # type: ignore[attr-defined]
    assert len(channels.adapters["sms"].sent) == 1  # type: ignore[attr-defined]
    assert await db.notifications.count_documents({}) == 1


async def test_a_redelivered_cause_announces_the_stored_notification_again_under_the_same_event_id(
    db: Db,
) -> None:
    event = escalation(responders=("r1",))
    down = Publisher(down=True)
    with pytest.raises(PublishFailed):
        await service.handle(db, down, senders(), Hub(), event)
    assert await db.notifications.count_documents({}) == 1
    (announcement,) = down.attempted
    # Another process (nothing in memory) meets the stored notification and announces it again.
    again = Publisher()
    assert await service.handle(db, again, senders(), Hub(), event) == 0
    assert again.attempted[0] == announcement
    assert await db.notifications.count_documents({}) == 1


async def test_a_crisis_message_whose_sms_fails_falls_back_to_email_at_once_and_retries_the_sms(
    db: Db,
) -> None:
    await pat(db, channels={"crisis": ("sms",)})
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="http 500")])
    channels, publisher = senders(sms=sms), Publisher()
    data = CrisisFollowUpScheduledData(
        case_id="c", responder_id="pat", member_id="m", due_by=datetime.now(UTC)
    )
    follow_up = CrisisFollowUpScheduled.create(source="crisis", org="org-a", subject="c", data=data)
    await service.handle(db, publisher, channels, Hub(), follow_up)
    assert len(channels.adapters["email"].sent) == 1  # type: ignore[attr-defined]
    attempts = await db.attempts.find({}, sort=[("at", 1)]).to_list()
    assert [(a["channel"], a["outcome"], a["reason"]) for a in attempts] == [
        ("sms", "failed", "http 500"),
        ("email", "delivered", None),
    ]
    assert "notifications.failed.v1" in publisher.types()
    # The sms is tried again after its back-off, by the scheduler.
    (sms_delivery,) = await db.deliveries.find({"channel": "sms"}).to_list()
    assert sms_delivery["state"] == "pending" and sms_delivery["attempts"] == 1
    later = sms_delivery["next_at"] + timedelta(seconds=1)
    await service.attempt(db, publisher, channels, sms_delivery["_id"], later)
    assert len(sms.sent) == 2
    assert (await db.deliveries.find_one({"_id": sms_delivery["_id"]}))["state"] == "delivered"  # type: ignore[index]


async def test_a_message_the_provider_refuses_for_good_is_not_retried(db: Db) -> None:
    await pat(db)
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="http 400", retry=False)])
    await service.handle(db, Publisher(), senders(sms=sms), Hub(), escalation())
    (delivery,) = await db.deliveries.find({"channel": "sms"}).to_list()
    assert delivery["state"] == "failed"


async def test_a_message_in_quiet_hours_waits_for_their_end_and_then_goes_once(db: Db) -> None:
    now = datetime.now(UTC)
    # Whole hours: ending at the top of the hour after next, so at least an hour from now (ending at
    # the next one, a run in an hour's last seconds saw the quiet hours over before the send).
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time()
    await pat(db, quiet_hours=model.QuietHours(time(start.hour), time(end.hour)))
    data = MatchProposedData(match_id="x", request_id="q", mentor_id="pat", member_id="m", score=1.0)
    channels, publisher = senders(), Publisher()
    await service.handle(
        db,
        publisher,
        channels,
        Hub(),
        MatchProposed.create(source="mentoring", org="org-a", subject="x", data=data),
    )
    assert channels.adapters["email"].sent == []  # type: ignore[attr-defined]
    assert len(await service.inbox(db, principal("org-a"), 10)) == 1  # the inbox does not wake anyone
    (delivery,) = await db.deliveries.find({}).to_list()
    entries = await db.schedule.find({"delivery_id": delivery["_id"]}).to_list()
    assert [e["at"] for e in entries] == [delivery["next_at"]]
    # The scheduler fires the entry early (a second replica's clock): nothing yet.
    await service.attempt(
        db, publisher, channels, delivery["_id"], delivery["next_at"] - timedelta(minutes=1)
    )
    assert channels.adapters["email"].sent == []  # type: ignore[attr-defined]
    for _ in range(2):  # fired twice, by two replicas: sent once
        await service.attempt(
            db, publisher, channels, delivery["_id"], delivery["next_at"] + timedelta(seconds=1)
        )
    assert len(channels.adapters["email"].sent) == 1  # type: ignore[attr-defined]


async def test_low_priority_messages_wait_for_one_digest(db: Db) -> None:
    person = await pat(db, digest=model.Digest(frozenset({"mentoring"}), 8))
    channels, publisher = senders(), Publisher()
    now = datetime.now(UTC)
    notes = [
        model.Notification(
            id=f"n{i}", org="org-a", recipient_id="pat", template="match_proposed_member",
            category="mentoring", priority="low", title=f"Message {i}", body="",
            link="/mentoring/requests/q", cause_event_id=f"e{i}", created_at=now + timedelta(seconds=i),
        )
        for i in range(3)
    ]  # fmt: skip
    await service.write_inbox(db, publisher, notes)
    send_at = model.next_digest_at(person, now)
    for note in notes:
        await service.add_to_digest(db, person, note, send_at)
    (entry,) = await db.schedule.find({"digest_id": {"$exists": True}}).to_list()
    assert entry["at"] == send_at
    for _ in range(2):
        await service.fire(db, publisher, channels, entry)
    (out,) = channels.adapters["email"].sent  # type: ignore[attr-defined]
    assert out.rendered.subject == "Your Recovery Network digest: 3 messages"
    assert next(line for line in out.rendered.text.splitlines() if line.startswith("- ")).startswith(
        "- Message 0"
    )


def principal(org: str, *roles: Role, sub: str = "pat", regions: tuple[str, ...] = ()) -> Principal:
    return Principal(
        sub=sub, org=org, roles=frozenset(roles or (Role.RESPONDER,)), regions=frozenset(regions)
    )


async def ids(db: Db, caller: Principal) -> list[str]:
    return [n.id for n in await service.inbox(db, caller, 50)]


async def escalated(db: Db, org: str, to: str, **data: object) -> str:
    event = escalation(org, (to,), **data)
    await service.handle(db, Publisher(), senders(), Hub(), event)
    await asyncio.sleep(0.002)  # the inbox is newest first: keep their times apart
    return model.notification_id(f"{event.id}:crisis_escalated", to)


async def test_a_regional_responder_reads_their_regions_team_escalations_of_any_organization(db: Db) -> None:
    own = await escalated(db, "org-a", "pat")
    team = await escalated(db, "org-b", "pat", catch_all="regional_team", region="lakeshore")
    # Addressed to pat too, and as close to readable as each can be, but not theirs to read here.
    level = await escalated(db, "org-b", "pat", region="lakeshore")  # B's own staff member pat
    elsewhere = await escalated(db, "org-b", "pat", catch_all="regional_team", region="hills")
    somebody = await escalated(db, "org-b", "sam", catch_all="regional_team", region="lakeshore")

    regional = principal("org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore",))
    assert await ids(db, regional) == [team, own]
    assert await ids(db, principal("org-c", Role.REGIONAL_RESPONDER, regions=("lakeshore",))) == [team]
    assert await ids(db, principal("org-a", Role.REGIONAL_RESPONDER, sub="sam", regions=("lakeshore",))) == [
        somebody
    ]
    both = principal("org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore", "hills"))
    assert await ids(db, both) == [elsewhere, team, own]
    assert level in await ids(db, principal("org-b", Role.RESPONDER))


async def test_nobody_else_reads_outside_their_organization(db: Db) -> None:
    own = await escalated(db, "org-a", "pat")
    await escalated(db, "org-b", "pat", catch_all="regional_team", region="lakeshore")
    for roles in ((Role.RESPONDER,), (Role.ORG_ADMIN,), (Role.NETWORK_ADMIN,)):
        # A region in the token does not widen the inbox of anyone but a regional responder.
        assert await ids(db, principal("org-a", *roles, regions=("lakeshore",))) == [own], roles
    assert await ids(db, principal("org-a", Role.REGIONAL_RESPONDER)) == [own]


async def test_a_regional_responders_own_contacts_reach_them_for_another_organizations_case(db: Db) -> None:
    await pat(db, org="org-a")
    channels = senders()
    await service.handle(
        db, Publisher(), channels, Hub(), escalation("org-b", catch_all="regional_team", region="lakeshore")
    )
    assert len(channels.adapters["sms"].sent) == 1  # type: ignore[attr-defined]
    # B's own ladder naming an id that has contacts in A: those contacts are not B's to use.
    other = senders()
    await service.handle(db, Publisher(), other, Hub(), escalation("org-b", case_id="c2"))
    assert other.adapters["sms"].sent == [] and other.adapters["email"].sent == []  # type: ignore[attr-defined]


async def test_another_organizations_admin_cannot_redirect_a_persons_messages(db: Db) -> None:
    await pat(db, org="org-a")  # pat's own, confirmed, in A
    admin_c = principal("org-c", Role.ORG_ADMIN, sub="admin-c")
    await service.update_staff(db, admin_c, "pat", phone="+13125550199", email="c@example.org")
    # C's record is C's: A's record of pat is untouched, and the regional team's message uses it.
    assert (await service.person_of(db, "org-a", "pat")).phone == "+13125550100"
    channels = senders()
    team = escalation("org-b", catch_all="regional_team", region="lakeshore")
    await service.handle(db, Publisher(), channels, Hub(), team)
    assert [o.person.phone for o in channels.adapters["sms"].sent] == ["+13125550100"]  # type: ignore[attr-defined]
    # C's record serves C's own messages.
    own = senders()
    await service.handle(db, Publisher(), own, Hub(), escalation("org-c", case_id="c3"))
    assert [o.person.phone for o in own.adapters["sms"].sent] == ["+13125550199"]  # type: ignore[attr-defined]


async def test_a_regional_responder_is_reached_through_their_own_organizations_record(db: Db) -> None:
    """pat belongs to A (they set their own record there); A's admin keeps their phone current. B's
    admin writing B's record of pat must not redirect B's team escalation away from it."""
    await pat(db, org="org-a")
    admin_a = principal("org-a", Role.ORG_ADMIN, sub="admin-a")
    await service.update_staff(db, admin_a, "pat", phone="+13125550101")
    admin_b = principal("org-b", Role.ORG_ADMIN, sub="admin-b")
    await service.update_staff(db, admin_b, "pat", phone="+13125550198", email="b@example.org")
    channels = senders()
    team = escalation("org-b", catch_all="regional_team", region="lakeshore")
    await service.handle(db, Publisher(), channels, Hub(), team)
    assert [o.person.phone for o in channels.adapters["sms"].sent] == ["+13125550101"]  # type: ignore[attr-defined]
    assert [o.person.email for o in channels.adapters["email"].sent] == ["pat@example.org"]  # type: ignore[attr-defined]
    # B's record still serves B's own ladder, which names pat as one of B's.
    own = senders()
    await service.handle(db, Publisher(), own, Hub(), escalation("org-b", case_id="c4"))
    assert [o.person.phone for o in own.adapters["sms"].sent] == ["+13125550198"]  # type: ignore[attr-defined]


async def test_a_regional_responder_of_the_cases_own_organization_keeps_its_record(db: Db) -> None:
    await pat(db, org="org-a")  # a record of their own elsewhere does not make B's any less theirs
    in_b = model.Person(id="pat", org="org-b", phone="+13125550197")
    await store.save_person(db, in_b, ["phone"], by="pat", confirmed=True)
    channels = senders()
    team = escalation("org-b", catch_all="regional_team", region="lakeshore")
    await service.handle(db, Publisher(), channels, Hub(), team)
    assert [o.person.phone for o in channels.adapters["sms"].sent] == ["+13125550197"]  # type: ignore[attr-defined]


async def test_a_regional_responder_is_reached_through_the_record_their_organizations_admin_set(
    db: Db,
) -> None:
    """pat never saved a record of their own: A's admin set their contacts. Crisis says pat is A's
    (`responder_orgs`), so B's team escalation goes to A's record, never to what B's admin wrote."""
    admin_a = principal("org-a", Role.ORG_ADMIN, sub="admin-a")
    await service.update_staff(db, admin_a, "pat", phone="+13125550101", email="pat@example.org")
    admin_b = principal("org-b", Role.ORG_ADMIN, sub="admin-b")
    await service.update_staff(db, admin_b, "pat", phone="+13125550198", email="b@example.org")
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="http 500")])
    channels, publisher = senders(sms=sms), Publisher()
    team = escalation("org-b", catch_all="regional_team", region="lakeshore", responder_orgs={"pat": "org-a"})
    await service.handle(db, publisher, channels, Hub(), team)
    assert [o.person.phone for o in sms.sent] == ["+13125550101"]
    assert [o.person.email for o in channels.adapters["email"].sent] == ["pat@example.org"]  # type: ignore[attr-defined]
    # The retry reads the contacts again, from the same record.
    (retry,) = await db.deliveries.find({"channel": "sms"}).to_list()
    await service.attempt(db, publisher, channels, retry["_id"], retry["next_at"] + timedelta(seconds=1))
    assert [o.person.phone for o in sms.sent] == ["+13125550101", "+13125550101"]


async def test_the_case_organizations_admin_cannot_give_a_regional_responder_of_another_contacts(
    db: Db,
) -> None:
    """A responder of A with no record in A is reached in-app only: B's admin's record of them is
    never used for them, nor a record of B that they once wrote to (B's admin may have added to it)."""
    admin_b = principal("org-b", Role.ORG_ADMIN, sub="admin-b")
    await service.update_staff(db, admin_b, "pat", phone="+13125550198", email="b@example.org")
    channels = senders()
    team = escalation("org-b", catch_all="regional_team", region="lakeshore", responder_orgs={"pat": "org-a"})
    assert await service.handle(db, Publisher(), channels, Hub(), team) == 1
    assert channels.adapters["sms"].sent == [] and channels.adapters["email"].sent == []  # type: ignore[attr-defined]
    await service.update_own(db, principal("org-b"), language="es")  # pat's own write marks B's record
    again = senders()
    later = escalation(
        "org-b", case_id="c5", catch_all="regional_team", region="lakeshore", responder_orgs={"pat": "org-a"}
    )
    await service.handle(db, Publisher(), again, Hub(), later)
    assert again.adapters["sms"].sent == [] and again.adapters["email"].sent == []  # type: ignore[attr-defined]
    regional = principal("org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore",))
    assert len(await service.inbox(db, regional, 10)) == 2  # in-app, both


async def test_a_regional_responder_unrecorded_where_crisis_named_is_reached_at_a_record_of_their_own(
    db: Db,
) -> None:
    """pat is on the regional staff of A and of C, and crisis named A, which has no record of them;
    pat saved their own contacts in C: B's team escalation goes there, never to B's record of
    them, even one pat once wrote to themselves."""
    await pat(db, org="org-b")  # pat's own in B, the case's organization: never theirs for B's team
    await pat(db, org="org-c")
    await service.update_own(db, principal("org-c"), phone="+13125550103")
    channels = senders()
    team = escalation("org-b", catch_all="regional_team", region="lakeshore", responder_orgs={"pat": "org-a"})
    await service.handle(db, Publisher(), channels, Hub(), team)
    assert [o.person.phone for o in channels.adapters["sms"].sent] == ["+13125550103"]  # type: ignore[attr-defined]
    # Only a record they wrote themselves: what C's admin wrote of sam, who wrote none, is not used.
    admin_c = principal("org-c", Role.ORG_ADMIN, sub="admin-c")
    await service.update_staff(db, admin_c, "sam", phone="+13125550104", email="sam@example.org")
    other = senders()
    sam = escalation(
        "org-b", ("sam",), catch_all="regional_team", region="lakeshore", responder_orgs={"sam": "org-a"}
    )
    await service.handle(db, Publisher(), other, Hub(), sam)
    assert other.adapters["sms"].sent == [] and other.adapters["email"].sent == []  # type: ignore[attr-defined]


def caring_contact(org: str, **data: object) -> CrisisFollowUpScheduled:
    fields = {"case_id": f"case-{org}", "responder_id": "pat", "member_id": "m", "due_by": datetime.now(UTC)}
    follow_up = CrisisFollowUpScheduledData.model_validate({**fields, **data})
    return CrisisFollowUpScheduled.create(source="crisis", org=org, subject="c", data=follow_up)


async def test_a_regional_responder_who_resolved_another_organizations_case_gets_its_reminder(
    db: Db,
) -> None:
    """pat, A's regional responder, resolved B's case: the caring-contact reminder is in their inbox
    (read as A's, through the region) and goes to the contacts A's admin set, never B's admin's."""
    admin_a = principal("org-a", Role.ORG_ADMIN, sub="admin-a")
    both = {"crisis": ("sms", "email")}  # a reminder is not critical: it goes on the chosen channels
    await service.update_staff(
        db, admin_a, "pat", phone="+13125550101", email="pat@example.org", channels=both
    )
    admin_b = principal("org-b", Role.ORG_ADMIN, sub="admin-b")
    await service.update_staff(db, admin_b, "pat", phone="+13125550198", email="b@example.org", channels=both)
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="http 500")])
    channels, publisher = senders(sms=sms), Publisher()
    reminder = caring_contact("org-b", responder_org="org-a", region="lakeshore")
    assert await service.handle(db, publisher, channels, Hub(), reminder) == 1
    regional = principal("org-a", Role.REGIONAL_RESPONDER, regions=("lakeshore",))
    assert [n.template for n in await service.inbox(db, regional, 10)] == ["crisis_follow_up_due"]
    assert [o.person.phone for o in sms.sent] == ["+13125550101"]
    assert [o.person.email for o in channels.adapters["email"].sent] == ["pat@example.org"]  # type: ignore[attr-defined]
    # The retry reads the same record again.
    (retry,) = await db.deliveries.find({"channel": "sms"}).to_list()
    await service.attempt(db, publisher, channels, retry["_id"], retry["next_at"] + timedelta(seconds=1))
    assert [o.person.phone for o in sms.sent] == ["+13125550101", "+13125550101"]
    # One of B's own who resolved B's case: B's record, B's inbox, as before.
    own = senders()
    await service.handle(
        db, Publisher(), own, Hub(), caring_contact("org-b", case_id="c2", region="lakeshore")
    )
    assert [o.person.phone for o in own.adapters["sms"].sent] == ["+13125550198"]  # type: ignore[attr-defined]
    assert [n.template for n in await service.inbox(db, regional, 10)] == ["crisis_follow_up_due"]


async def test_changing_contacts_and_preferences_at_once_loses_neither(db: Db) -> None:
    caller = principal("org-a")
    await asyncio.gather(
        service.update_own(db, caller, email="pat@example.org", phone="+13125550100"),
        service.update_own(db, caller, quiet_hours=model.QuietHours(time(22), time(7))),
    )
    person = await service.person_of(db, "org-a", "pat")
    assert person.phone == "+13125550100" and person.quiet_hours is not None


async def test_reading_marks_and_counts_only_the_callers_own(db: Db) -> None:
    first = await escalated(db, "org-a", "pat")
    await escalated(db, "org-a", "pat")
    await escalated(db, "org-a", "sam")
    caller = principal("org-a")
    assert await service.unread_count(db, caller) == 2
    assert await service.mark_read(db, caller, first, datetime.now(UTC))
    assert not await service.mark_read(db, principal("org-b"), first, datetime.now(UTC))
    assert await service.unread_count(db, caller) == 1
    assert await service.mark_all_read(db, caller, datetime.now(UTC)) == 1
    assert await service.unread_count(db, caller) == 0
    assert await service.unread_count(db, principal("org-a", sub="sam")) == 1


async def test_a_live_stream_resumes_after_its_last_event_without_losing_one(db: Db) -> None:
    caller = principal("org-a")
    for _ in range(3):
        await escalated(db, "org-a", "pat")
    seen = await service.since(db, caller, None)
    assert len(seen) == 3
    cursor = service.parse_cursor(service.cursor(seen[-1]))
    later = await escalated(db, "org-a", "pat")
    # Written late with an earlier time (another event handled beside it): still on its way to the page.
    late = replace(seen[0], id="late", created_at=seen[0].created_at + timedelta(microseconds=1))
    await service.write_inbox(db, Publisher(), [late])
    resumed = await service.since(db, caller, cursor, {n.id for n in seen})
    assert [n.id for n in resumed] == ["late", later]


async def test_a_slow_channel_does_not_hold_up_the_event_and_still_sends_once(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pat(db)
    monkeypatch.setattr(service, "SEND_WAIT", timedelta(seconds=0.1))
    channels = senders(email=Adapter("email", delay=1.0))
    await service.handle(db, Publisher(), channels, Hub(), escalation())
    # The handler has returned (its event can be acknowledged) while the email is still on its way.
    assert len(channels.adapters["sms"].sent) == 1  # type: ignore[attr-defined]
    (sending,) = await db.deliveries.find({"channel": "email"}).to_list()
    assert sending["state"] == "sending" and channels.running
    await asyncio.gather(*channels.running)
    assert len(channels.adapters["email"].sent) == 1  # type: ignore[attr-defined]
    (delivery,) = await db.deliveries.find({"channel": "email"}).to_list()
    assert delivery["state"] == "delivered"
