"""A responder taken off the crisis staff: the crisis messages still waiting for them stop, each with
a status that says why, while their other messages go on; a redelivered deactivation changes nothing.

First the use cases against the real document store, with the clock in the test's hands (a retry
that falls due, a send under way, an event handled late); then the running service on real NATS, the
document store and the local SMS provider, where the deactivation arrives as an event.
"""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import (
    CrisisEscalated,
    CrisisEscalatedData,
    CrisisFollowUpScheduled,
    CrisisFollowUpScheduledData,
    CrisisResponderDeactivated,
    CrisisResponderDeactivatedData,
)
from contracts.envelope import Event
from contracts.mentoring import MatchProposed, MatchProposedData
from deploy.local.stack import Stack
from services.notifications import model, service, store
from services.notifications.channels import Outcome
from services.notifications.live import Hub
from services.notifications.subscribers import DEACTIVATIONS
from shared.auth.principal import Role
from tests.conftest import Tokens
from tests.helpers import SmsReceiver, eventually, joined
from tests.services.notifications.test_service import Adapter, Publisher, senders

Db = AsyncDatabase[dict[str, Any]]
REASON = model.RESPONDER_DEACTIVATED
Line = tuple[str, int, str, str | None]


@pytest.fixture
async def db(scratch_db: Db) -> Db:
    await store.ensure_indexes(scratch_db)
    return scratch_db


def escalation(org: str, responder: str, case_id: str, at: datetime | None = None) -> CrisisEscalated:
    data = CrisisEscalatedData(case_id=case_id, level=1, severity="high", responder_ids=[responder])
    return CrisisEscalated.create(
        source="crisis", org=org, subject=case_id, data=data, time=at or datetime.now(UTC)
    )


def follow_up(org: str, responder: str, case_id: str, at: datetime | None = None) -> CrisisFollowUpScheduled:
    at = at or datetime.now(UTC)
    data = CrisisFollowUpScheduledData(
        case_id=case_id, responder_id=responder, member_id="m", due_by=at + timedelta(hours=24)
    )
    return CrisisFollowUpScheduled.create(source="crisis", org=org, subject=case_id, data=data, time=at)


def match_for(org: str, mentor: str) -> MatchProposed:
    data = MatchProposedData(match_id=f"x-{mentor}", request_id="q", mentor_id=mentor, member_id="m", score=1)
    return MatchProposed.create(source="mentoring", org=org, subject=f"x-{mentor}", data=data)


def deactivation(org: str, responder: str) -> CrisisResponderDeactivated:
    data = CrisisResponderDeactivatedData(responder_id=responder, deactivated_by="coordinator")
    return CrisisResponderDeactivated.create(source="crisis", org=org, subject=responder, data=data)


def quiet_now() -> dict[str, str]:
    """Quiet hours (UTC) around the present hour, lasting hours: "HH:MM" as a person sets them."""
    now = datetime.now(UTC)
    return {
        "start": f"{(now - timedelta(hours=1)).hour:02}:00",
        "end": f"{(now + timedelta(hours=2)).hour:02}:00",
    }


async def pat(db: Db, org: str = "org-a", **fields: Any) -> None:
    person = model.Person(id="pat", org=org, phone="+13125550100", **fields)
    await store.save_person(db, person, store.person_to_doc(person), by="pat", confirmed=True)


def inbox_id(event: Event, template: str, to: str = "pat") -> str:
    return model.notification_id(f"{event.id}:{template}", to)


async def lines(db: Db, notification_id: str) -> set[Line]:
    """What an organization's admin reads of a notification's delivery: (channel, attempt, outcome,
    reason); a set, since channels are sent side by side."""
    found = await service.attempts(db, "org-a", notification_id)
    return {(a["channel"], a["attempt"], a["outcome"], a["reason"]) for a in found}


def failures(publisher: Publisher) -> list[dict[str, Any]]:
    return [json.loads(p)["data"] for t, p in publisher.sent if t == "notifications.failed.v1"]


async def test_a_retry_and_a_deferred_caring_contact_stop_for_good_while_a_mentoring_message_waits_its_turn(
    db: Db,
) -> None:
    quiet = quiet_now()
    hours = model.QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
    await pat(
        db,
        email="pat@example.org",
        quiet_hours=hours,
        channels={"crisis": ("sms", "email"), "mentoring": ("sms",)},
    )
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="http 500")])
    channels, publisher = senders(sms=sms), Publisher()
    escalated, cared, proposed = (
        escalation("org-a", "pat", "c1"),
        follow_up("org-a", "pat", "c1"),
        match_for("org-a", "pat"),
    )
    for event in (escalated, cared, proposed):
        await service.handle(db, publisher, channels, Hub(), event)
    # The escalation's SMS failed and waits for its retry (its email went: critical, no quiet hours);
    # the caring-contact reminder and the mentoring message wait for the end of quiet hours.
    assert (
        sorted(d["state"] for d in await db.deliveries.find({}).to_list()) == ["delivered"] + ["pending"] * 4
    )

    now = datetime.now(UTC)
    assert await service.responder_deactivated(db, publisher, "org-a", "pat", now, now) == 3
    assert await lines(db, inbox_id(escalated, "crisis_escalated")) == {
        ("sms", 1, "failed", "http 500"),
        ("email", 1, "delivered", None),
        ("sms", 2, "cancelled", REASON),
    }
    assert await lines(db, inbox_id(cared, "crisis_follow_up_due")) == {
        ("sms", 1, "cancelled", REASON),
        ("email", 1, "cancelled", REASON),
    }
    # Each channel's story ends with a final NotificationFailed that says why.
    stopped = [
        (f["channel"], f["attempt"], f["final"], f["fallback"])
        for f in failures(publisher)
        if f["reason"] == REASON
    ]
    assert sorted(stopped) == [("email", 1, True, None), ("sms", 1, True, None), ("sms", 2, True, None)]
    assert await service.attempts(db, "org-a", inbox_id(proposed, "match_proposed_mentor")) == []

    # Every delivery's time comes (the scheduler's entries fire, some twice): only mentoring goes out.
    later = now + timedelta(hours=4)
    for delivery in await db.deliveries.find({}).to_list():
        for _ in range(2):
            await service.attempt(db, publisher, channels, delivery["_id"], later)
    assert [o.rendered.subject for o in sms.sent][1:] == ["A new mentee was proposed to you"]
    assert len(channels.adapters["email"].sent) == 1  # type: ignore[attr-defined]  # the escalation's

    # The deactivation redelivered: nothing more is stopped, logged or announced.
    logged, announced = await db.attempts.count_documents({}), len(publisher.sent)
    assert await service.responder_deactivated(db, publisher, "org-a", "pat", now, datetime.now(UTC)) == 0
    assert (await db.attempts.count_documents({}), len(publisher.sent)) == (logged, announced)
    # The inbox keeps every message: the history of what they were told.
    assert await db.notifications.count_documents({"recipient_id": "pat"}) == 3


async def test_a_send_under_way_is_left_to_finish_and_its_retry_stops(db: Db) -> None:
    await pat(db)
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="timeout")], delay=0.5)
    channels, publisher = senders(sms=sms), Publisher()
    handled = asyncio.create_task(
        service.handle(db, publisher, channels, Hub(), escalation("org-a", "pat", "c2"))
    )

    async def sending() -> bool:
        return await db.deliveries.count_documents({"state": "sending"}) == 1

    await eventually(sending, interval=0.02)
    now = datetime.now(UTC)
    # The message may be on its way already: not this call's to stop.
    assert await service.responder_deactivated(db, publisher, "org-a", "pat", now, now) == 0
    await handled
    (delivery,) = await db.deliveries.find({}).to_list()
    assert (delivery["state"], delivery["attempts"]) == ("pending", 1)
    # Its retry falls due: the check before each attempt stops it.
    await service.attempt(
        db, publisher, channels, delivery["_id"], delivery["next_at"] + timedelta(seconds=1)
    )
    assert len(sms.sent) == 1
    assert (await db.deliveries.find_one({"_id": delivery["_id"]}) or {})["state"] == "cancelled"
    assert ("sms", 2, "cancelled", REASON) in await lines(db, delivery["notification_id"])


async def test_crisis_messages_handled_after_the_deactivation_they_preceded_are_not_sent_and_later_ones_are(
    db: Db,
) -> None:
    quiet = quiet_now()
    hours = model.QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
    await pat(db, email="pat@example.org", quiet_hours=hours)
    channels, publisher = senders(), Publisher()
    deactivated = datetime.now(UTC)
    # Consumed side by side, the deactivation can be handled before events made just before it.
    await service.responder_deactivated(db, publisher, "org-a", "pat", deactivated, deactivated)
    earlier = escalation("org-a", "pat", "c3", at=deactivated - timedelta(milliseconds=5))
    cared = follow_up("org-a", "pat", "c0", at=deactivated - timedelta(milliseconds=5))
    for event in (earlier, cared):
        await service.handle(db, publisher, channels, Hub(), event)
    sent = [channels.adapters[c].sent for c in ("sms", "email")]  # type: ignore[attr-defined]
    assert sent == [[], []]
    assert await lines(db, inbox_id(earlier, "crisis_escalated")) == {
        ("sms", 1, "cancelled", REASON),
        ("email", 1, "cancelled", REASON),
    }
    # The reminder would have waited for the end of quiet hours: it says so now, not hours from now.
    assert await lines(db, inbox_id(cared, "crisis_follow_up_due")) == {("email", 1, "cancelled", REASON)}
    # Put on the staff again, they are escalated to again: those messages go.
    later = escalation("org-a", "pat", "c4", at=deactivated + timedelta(seconds=1))
    await service.handle(db, publisher, channels, Hub(), later)
    assert len(channels.adapters["sms"].sent) == 1  # type: ignore[attr-defined]
    assert len(channels.adapters["email"].sent) == 1  # type: ignore[attr-defined]
    # Another organization's messages to the same person (on its staff too) were never theirs to stop.
    await pat(db, org="org-b")
    other = escalation("org-b", "pat", "c5", at=deactivated - timedelta(seconds=1))
    await service.handle(db, publisher, channels, Hub(), other)
    assert len(channels.adapters["sms"].sent) == 2  # type: ignore[attr-defined]
    found = await service.attempts(db, "org-b", inbox_id(other, "crisis_escalated"))
    assert [(a["channel"], a["outcome"]) for a in found] == [("sms", "delivered")]


async def test_a_regional_responder_taken_off_their_organizations_staff_gets_no_more_of_anothers_messages(
    db: Db,
) -> None:
    """pat is A's regional responder, reached for B's case through A's record (`contact_org`). A takes
    them off its crisis staff: B's waiting retry and reminder to them stop, and so does B's message
    caused before it and handled after."""
    quiet = quiet_now()
    hours = model.QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
    await pat(db, email="pat@example.org", quiet_hours=hours, channels={"crisis": ("sms", "email")})
    sms = Adapter("sms", outcomes=[Outcome(ok=False, reason="http 500")])
    channels, publisher = senders(sms=sms), Publisher()
    team = {"catch_all": "regional_team", "region": "lakeshore", "responder_orgs": {"pat": "org-a"}}
    data = CrisisEscalatedData(case_id="c6", level=2, severity="high", responder_ids=["pat"], **team)
    escalated = CrisisEscalated.create(source="crisis", org="org-b", subject="c6", data=data)
    reminder = CrisisFollowUpScheduled.create(
        source="crisis", org="org-b", subject="c7",
        data=CrisisFollowUpScheduledData(
            case_id="c7", responder_id="pat", member_id="m", due_by=datetime.now(UTC) + timedelta(hours=24),
            responder_org="org-a", region="lakeshore",
        ),
    )  # fmt: skip
    for event in (escalated, reminder):
        await service.handle(db, publisher, channels, Hub(), event)
    # The escalation's SMS waits for its retry; the reminder for the end of quiet hours.
    assert (
        sorted(d["state"] for d in await db.deliveries.find({}).to_list()) == ["delivered"] + ["pending"] * 3
    )

    now = datetime.now(UTC)
    assert await service.responder_deactivated(db, publisher, "org-a", "pat", now, now) == 3
    later = now + timedelta(hours=4)
    for delivery in await db.deliveries.find({}).to_list():
        await service.attempt(db, publisher, channels, delivery["_id"], later)
    assert (len(sms.sent), len(channels.adapters["email"].sent)) == (1, 1)  # type: ignore[attr-defined]
    found = await service.attempts(db, "org-b", inbox_id(reminder, "crisis_follow_up_due"))
    assert {(a["channel"], a["outcome"], a["reason"]) for a in found} == {
        ("sms", "cancelled", REASON),
        ("email", "cancelled", REASON),
    }

    # B's next escalation, made before A's deactivation and handled after it, is not sent either.
    data = CrisisEscalatedData(case_id="c8", level=2, severity="high", responder_ids=["pat"], **team)
    late = CrisisEscalated.create(
        source="crisis", org="org-b", subject="c8", data=data, time=now - timedelta(milliseconds=5)
    )
    await service.handle(db, publisher, channels, Hub(), late)
    assert (len(sms.sent), len(channels.adapters["email"].sent)) == (1, 1)  # type: ignore[attr-defined]
    found = await service.attempts(db, "org-b", inbox_id(late, "crisis_escalated"))
    assert {(a["channel"], a["outcome"]) for a in found} == {("sms", "cancelled"), ("email", "cancelled")}


# ---- the running service ------------------------------------------------------------------------

ORG = "deact-a"


@pytest.fixture
def org(network: Stack) -> Iterator[Stack]:
    with joined(network.network_file, [], [{"id": ORG, "name": ORG, "region": "lakeshore"}]):
        yield network


async def publish(nc: NatsClient, event: Event, msg_id: str | None = None) -> int:
    """As crisis publishes it, or as a redelivery (another message id, the same event); its sequence."""
    ack = await nc.jetstream().publish(
        event.nats_subject(), event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or event.id}
    )
    assert not ack.duplicate
    return ack.seq


async def test_a_deactivation_event_stops_the_pending_crisis_messages_of_the_running_service(
    org: Stack, tokens: Tokens, http: httpx.AsyncClient, admin_nc: NatsClient, sms: SmsReceiver
) -> None:
    url, person, phone = org.url("notifications"), "d-resp-1", "+13125550161"
    admin, me = tokens("d-admin", ORG, Role.ORG_ADMIN), tokens(person, ORG, Role.RESPONDER, Role.MENTOR)
    r = await http.put(f"{url}/me/contact", json={"phone": phone}, headers=me)
    assert r.status_code == 200, r.text
    prefs = {"quiet_hours": quiet_now(), "channels": {"crisis": ["sms"], "mentoring": ["sms"]}}
    r = await http.put(f"{url}/me/preferences", json=prefs, headers=me)
    assert r.status_code == 200, r.text

    async def status(notification_id: str) -> list[Line]:
        r = await http.get(f"{url}/org/notifications/{notification_id}/attempts", headers=admin)
        assert r.status_code in (200, 404), r.text
        return (
            [(a["channel"], a["attempt"], a["outcome"], a["reason"]) for a in r.json()]
            if r.status_code == 200
            else []
        )

    # Every send fails until the test says otherwise: the escalation's SMS waits for a retry.
    await sms.fail_next(500, count=-1)
    escalated, cared, proposed = (
        escalation(ORG, person, "case-d1"),
        follow_up(ORG, person, "case-d1"),
        match_for(ORG, person),
    )
    for event in (escalated, cared, proposed):
        await publish(admin_nc, event)
    escalation_id = inbox_id(escalated, "crisis_escalated", person)
    await eventually(lambda: status(escalation_id))

    async def inbox() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await http.get(f"{url}/me/notifications", headers=me)).json()
        return found if len(found) == 3 else []

    await eventually(inbox)
    deactivated = deactivation(ORG, person)
    await publish(admin_nc, deactivated)

    async def cancelled() -> list[Line]:
        found = await status(escalation_id)
        return found if found and found[-1][2] == "cancelled" else []

    stopped = await eventually(cancelled)
    failed = [line for line in stopped if line[2] == "failed"]
    assert failed and all(line[:1] + line[2:] == ("sms", "failed", "http 500") for line in failed)
    assert stopped[-1] == ("sms", len(failed) + 1, "cancelled", REASON)
    assert await eventually(lambda: status(inbox_id(cared, "crisis_follow_up_due", person))) == [
        ("sms", 1, "cancelled", REASON)
    ]
    assert await status(inbox_id(proposed, "match_proposed_mentor", person)) == []  # still waiting

    # The provider works again, and the time of the retry the escalation's SMS was waiting for comes
    # and goes (with a scheduler round after it): nothing is sent. A message that is not sent has no
    # event to wait for, so this waits a few seconds at most.
    await sms.fail_next(count=0)
    attempts = await http.get(f"{url}/org/notifications/{escalation_id}/attempts", headers=admin)
    last_failure = max(datetime.fromisoformat(a["at"]) for a in attempts.json() if a["outcome"] == "failed")
    retry_at = last_failure + model.retry_delay("critical", len(failed))
    await asyncio.sleep(max((retry_at - datetime.now(UTC)).total_seconds(), 0) + 1.5)
    assert await sms.messages(to=phone) == []

    # The deactivation delivered again: once the consumer has acknowledged it, nothing has changed.
    seq = await publish(admin_nc, deactivated, msg_id=f"{deactivated.id}-again")

    async def acknowledged() -> bool:
        info = await admin_nc.jetstream().consumer_info(DEACTIVATIONS.stream, DEACTIVATIONS.durable)
        return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= seq

    await eventually(acknowledged)
    assert await status(escalation_id) == stopped
    assert await status(inbox_id(cared, "crisis_follow_up_due", person)) == [("sms", 1, "cancelled", REASON)]
    assert await sms.messages(to=phone) == []
