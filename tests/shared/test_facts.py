"""The dashboards' facts (shared.telemetry.record_fact): each recorded once where the thing happens,
after the write that makes it true, on a span naming the organization, with allow-listed attributes.

Spans go through the processors `setup_telemetry` installs (the allow-list drops any attribute not
on it, so a fact carrying one would not compare equal here). The services' use cases run on the
real document store, with a publisher that keeps what it is given.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from faststream.exceptions import AckMessage
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo.asynchronous.database import AsyncDatabase

from contracts.crisis import (
    CrisisEscalated,
    CrisisEscalatedData,
    CrisisFollowUpScheduled,
    CrisisFollowUpScheduledData,
)
from contracts.ids import new_id
from deploy.local.stack import Stack
from services.crisis import model as crisis_model
from services.crisis import service as crisis
from services.crisis import store as crisis_store
from services.meetings import recurrence
from services.meetings import store as meetings_store
from services.meetings.attendance import service as attendance
from services.meetings.model import Listing, Meeting
from services.meetings.settings import Settings as MeetingsSettings
from services.mentoring import model as mentoring_model
from services.mentoring import service as mentoring
from services.mentoring import store as mentoring_store
from services.mentoring.checkins import service as checkins
from services.mentoring.checkins import store as checkins_store
from services.mentoring.settings import Settings as MentoringSettings
from services.notifications import model as notifications_model
from services.notifications import service as notifications
from services.notifications import store as notifications_store
from services.notifications.channels import Outcome, Outgoing
from services.notifications.live import Hub
from shared import telemetry
from shared.messaging.deadletter import make_dead_letter_middleware
from shared.network import Network, Organization, Region
from shared.telemetry import (
    CATCH_ALL,
    CATEGORY,
    CHANNEL,
    CRISIS_LEVEL,
    DURATION_MS,
    FACT_CRISIS_ACKNOWLEDGED,
    FACT_CRISIS_ESCALATED,
    FACT_CRISIS_FIRST_DELIVERY,
    FACT_CRISIS_FOLLOW_UP_DONE,
    FACT_CRISIS_OPENED,
    FACT_MEETING_ATTENDED,
    FACT_MENTORING_CHECK_IN_OVERDUE,
    FACT_MENTORING_MATCHED,
    FACT_MENTORING_REQUESTED,
    FACT_MESSAGE_DEAD_LETTERED,
    FACT_MESSAGE_REDELIVERED,
    FACT_NOTIFICATION_DELIVERED,
    FACT_NOTIFICATION_FAILED,
    FACT_NOTIFICATION_FALLBACK,
    MEETING_ID,
    ON_TIME,
    ORG,
    STREAM,
    AllowListSpanProcessor,
    OrgFromParentSpanProcessor,
)

Db = AsyncDatabase[dict[str, Any]]
ORG_A = "org-a"


@dataclass
class Spans:
    exporter: InMemorySpanExporter
    tracer: trace.Tracer

    def facts(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each recorded fact `name`: the attributes of its span, and its own."""
        return [
            (dict(span.attributes or {}), dict(event.attributes or {}))
            for span in self.exporter.get_finished_spans()
            for event in span.events
            if event.name == name
        ]

    def of(self, name: str) -> list[dict[str, Any]]:
        """The attributes of each fact `name`, checking that its span names organization A."""
        found = self.facts(name)
        assert [span.get(ORG) for span, _ in found] == [ORG_A] * len(found), name
        return [attributes for _, attributes in found]

    def as_org(self, name: str = "request") -> Any:
        """A span naming organization A, as a request's (its token) or an event handler's has."""
        return self.tracer.start_as_current_span(name, attributes={ORG: ORG_A})


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(OrgFromParentSpanProcessor())
    provider.add_span_processor(AllowListSpanProcessor(SimpleSpanProcessor(exporter)))
    # Spans a timer or a send starts come from the service's provider (shared.telemetry.background_tracer,
    # set by setup_telemetry, which an earlier test of the session may have called): this test puts its
    # own in place and takes it back.
    monkeypatch.setattr(telemetry, "_provider", provider)
    yield Spans(exporter, provider.get_tracer("test"))
    provider.shutdown()


class Publisher:
    """Keeps what would go to JetStream."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def acknowledged(self, event_id: str) -> bool:
        return False

    async def publish_raw(self, event_type: str, subject: str, payload: bytes, event_id: str) -> None:
        self.sent.append(event_type)

    async def publish_many(self, entries: list[dict[str, str]]) -> None:
        for e in entries:
            await self.publish_raw(e["type"], e["subject"], e["payload"].encode(), e["id"])


# --- messaging ------------------------------------------------------------------------------------


class Broker:
    """Stores dead letters as JetStream would: a second one with the same message id is a duplicate."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def publish(self, body: bytes, subject: str, *, headers: dict[str, str], stream: str) -> Any:
        duplicate = headers["Nats-Msg-Id"] in self.ids
        self.ids.append(headers["Nats-Msg-Id"])
        return SimpleNamespace(duplicate=duplicate)


def delivery(number: int, org: str = ORG_A) -> Any:
    """A JetStream message of the CRISIS stream as the middleware sees it, on its `number`th delivery."""
    metadata = SimpleNamespace(
        num_delivered=number, consumer="notifications-escalated", stream="CRISIS",
        sequence=SimpleNamespace(stream=7),
    )  # fmt: skip
    raw = SimpleNamespace(
        subject="rn.org-a.crisis.escalated.v1", data=f'{{"org": "{org}"}}'.encode(), metadata=metadata
    )
    return SimpleNamespace(raw_message=raw)


async def test_a_redelivered_message_and_a_dead_letter_are_counted_once_for_their_subjects_org(
    spans: Spans,
) -> None:
    broker = Broker()
    middleware = make_dead_letter_middleware("notifications", lambda: broker, 3, (0.1,))  # type: ignore[arg-type, return-value]

    async def handled(msg: Any) -> None:
        return None

    async def failing(msg: Any) -> None:
        raise RuntimeError("the store is away")

    async def consume(message: Any, handler: Any) -> None:
        # In the consumer's span, before the handler has read the event (and named its organization).
        with spans.tracer.start_as_current_span("process"):
            await middleware(None, context=None).consume_scope(handler, message)  # type: ignore[arg-type]

    await consume(delivery(1), handled)
    await consume(delivery(2), handled)
    for _ in range(2):  # its last delivery fails, and comes again: the acknowledgement was lost
        with pytest.raises(AckMessage):
            await consume(delivery(3), failing)

    assert spans.of(FACT_MESSAGE_REDELIVERED) == [{STREAM: "CRISIS"}] * 3
    # Dead-lettered twice, stored once (the same message id), counted once.
    assert len(broker.ids) == 2 and spans.of(FACT_MESSAGE_DEAD_LETTERED) == [{STREAM: "CRISIS"}]

    # A message naming another organization than its subject is dead-lettered at once, for the subject's.
    unusable = delivery(1, org="org-b")
    unusable.raw_message.metadata.sequence.stream = 8
    with pytest.raises(AckMessage):
        await consume(unusable, handled)
    assert spans.of(FACT_MESSAGE_DEAD_LETTERED) == [{STREAM: "CRISIS"}] * 2


# --- crisis ---------------------------------------------------------------------------------------


@pytest.fixture
async def crisis_db(scratch_db: Db) -> Db:
    await crisis_store.ensure_indexes(scratch_db)
    await crisis.save_staff(scratch_db, ORG_A, "coord", ["coordinator"])
    return scratch_db


NETWORK = Network(
    regions=[Region(id="lakeshore", name="Lakeshore")],
    organizations=[Organization(id=ORG_A, name="A", region="lakeshore")],
)


async def test_a_case_counts_its_opening_each_escalation_once_and_the_time_to_acknowledge(
    crisis_db: Db, spans: Spans
) -> None:
    db, publisher, directory = crisis_db, Publisher(), crisis.Directory()
    reached_out = crisis.utcnow() - timedelta(seconds=90)  # an alert accepted in a surge, opened now
    with spans.as_org():
        case, created = await crisis.raise_alert(
            db, publisher, directory, NETWORK, org=ORG_A, member_id="m-1", severity="high",
            channel="member", by="m-1", dedup_key=None, now=crisis.utcnow(), received_at=reached_out,
        )  # fmt: skip
        # The same person again: the alert joins the open case, which opens nothing.
        await crisis.raise_alert(
            db, publisher, directory, NETWORK, org=ORG_A, member_id="m-1", severity="high",
            channel="member", by="m-1", dedup_key=None, now=crisis.utcnow(),
        )  # fmt: skip
    assert created
    assert spans.of(FACT_CRISIS_OPENED) == [{CRISIS_LEVEL: 1}]
    # No levels: the organization's coordinators are the catch-all, reached at once.
    assert spans.of(FACT_CRISIS_ESCALATED) == [{CRISIS_LEVEL: 1, CATCH_ALL: True}]

    # Its deadline fires on two replicas (no request around a timer): it escalates once, for org A.
    assert case.deadline is not None
    for _ in range(2):
        await crisis.fire(db, publisher, directory, NETWORK, ORG_A, case.id, case.deadline)
    assert spans.of(FACT_CRISIS_ESCALATED) == [{CRISIS_LEVEL: 1, CATCH_ALL: True}] * 2

    with spans.as_org():
        for _ in range(2):  # a double click acknowledges once
            await crisis.change_case(
                db, publisher, ORG_A, case.id, lambda c: crisis_model.acknowledge(c, "coord", crisis.utcnow())
            )
    (acknowledged,) = spans.of(FACT_CRISIS_ACKNOWLEDGED)
    assert 90_000 <= acknowledged[DURATION_MS] < 100_000  # from when the person reached out

    with spans.as_org():
        resolve = {"responder_id": "coord", "outcome": "safe", "referral": "none", "partner_id": None}
        await crisis.change_case(
            db, publisher, ORG_A, case.id, lambda c: crisis_model.resolve(c, **resolve, now=crisis.utcnow())
        )
        await crisis.change_case(
            db, publisher, ORG_A, case.id,
            lambda c: crisis_model.complete_follow_up(c, by="coord", for_anyone=False, now=crisis.utcnow()),
        )  # fmt: skip
    assert spans.of(FACT_CRISIS_FOLLOW_UP_DONE) == [{ON_TIME: True}]


# --- notifications --------------------------------------------------------------------------------


@dataclass
class Adapter:
    """A channel answering the outcomes it is given, in turn, then success."""

    outcomes: list[Outcome] = field(default_factory=list)
    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, out: Outgoing) -> Outcome:
        self.sent.append(out)
        return self.outcomes.pop(0) if self.outcomes else Outcome(ok=True)


@pytest.fixture
async def notifications_db(scratch_db: Db) -> Db:
    await notifications_store.ensure_indexes(scratch_db)
    return scratch_db


async def save_pat(db: Db, **fields: Any) -> None:
    person = notifications_model.Person(
        id="pat", org=ORG_A, email="pat@example.org", phone="+13125550100", **fields
    )
    await notifications_store.save_person(
        db, person, notifications_store.person_to_doc(person), by="pat", confirmed=True
    )


def channels(**adapters: Adapter) -> notifications.Senders:
    chosen = {"email": Adapter(), "sms": Adapter(), **adapters}
    return notifications.Senders(adapters=chosen, link_bases={})  # type: ignore[arg-type]


async def test_an_escalation_counts_each_channel_delivered_and_the_cases_first_delivery_once(
    notifications_db: Db, spans: Spans
) -> None:
    db = notifications_db
    await save_pat(db)
    senders = channels()
    data = CrisisEscalatedData(case_id="case-1", level=1, severity="high", responder_ids=["pat", "sam"])
    first = CrisisEscalated.create(source="crisis", org=ORG_A, subject="case-1", data=data)
    second = CrisisEscalated.create(source="crisis", org=ORG_A, subject="case-1", data=data)
    # The escalation, delivered twice (a redelivery); then the case's next one.
    for event in (first, first, second):
        with spans.as_org("process"):  # the handler's span, which names the event's organization
            await notifications.handle(db, Publisher(), senders, Hub(), event)

    delivered = spans.of(FACT_NOTIFICATION_DELIVERED)
    by_channel = sorted((d[CHANNEL], d[CATEGORY]) for d in delivered)
    # Each escalation once: the inbox for both responders, pat's phone and email (sam has neither).
    assert by_channel == sorted([("in_app", "crisis")] * 4 + [("sms", "crisis"), ("email", "crisis")] * 2)
    assert all(0 <= d[DURATION_MS] < 10_000 for d in delivered)
    (first_delivery,) = spans.of(FACT_CRISIS_FIRST_DELIVERY)
    assert 0 <= first_delivery[DURATION_MS] < 10_000


async def test_a_crisis_message_a_channel_gives_up_on_counts_the_failure_and_its_fallback(
    notifications_db: Db, spans: Spans
) -> None:
    db = notifications_db
    await save_pat(db, channels={"crisis": ("sms",)})  # the caring contact's reminder goes by SMS only
    senders = channels(sms=Adapter([Outcome(ok=False, reason="unreachable", retry=False)]))
    data = CrisisFollowUpScheduledData(
        case_id="case-1", responder_id="pat", member_id="m-1", due_by=datetime.now(UTC) + timedelta(days=1)
    )
    event = CrisisFollowUpScheduled.create(source="crisis", org=ORG_A, subject="case-1", data=data)
    with spans.as_org("process"):
        await notifications.handle(db, Publisher(), senders, Hub(), event)

    assert spans.of(FACT_NOTIFICATION_FAILED) == [{CHANNEL: "sms", CATEGORY: "crisis"}]
    assert spans.of(FACT_NOTIFICATION_FALLBACK) == [{CHANNEL: "sms"}]
    assert sorted(d[CHANNEL] for d in spans.of(FACT_NOTIFICATION_DELIVERED)) == ["email", "in_app"]
    assert spans.facts(FACT_CRISIS_FIRST_DELIVERY) == []  # a reminder, not an escalation


# --- mentoring ------------------------------------------------------------------------------------


@pytest.fixture
async def mentoring_db(scratch_db: Db) -> Db:
    await mentoring_store.ensure_indexes(scratch_db)
    await checkins_store.ensure_indexes(scratch_db)
    return scratch_db


async def test_a_request_counts_once_and_its_acceptance_counts_the_time_to_a_match(
    mentoring_db: Db, stack: Stack, spans: Spans
) -> None:
    db, publisher = mentoring_db, Publisher()
    settings = MentoringSettings(jwt_public_key_file=stack.public_key)
    asked = datetime(2026, 11, 27, 12, tzinfo=UTC)
    await mentoring.save_mentor(db, mentoring_model.MentorProfile("mentor-1", ORG_A, 2))
    request = mentoring_model.Request(id=new_id(), org=ORG_A, member_id="member-1", requested_at=asked)
    with spans.as_org():
        member = await mentoring.open_request(db, publisher, settings, request, asked)
        with pytest.raises(mentoring_model.MatchConflict):  # asking again while the request is open
            await mentoring.open_request(db, publisher, settings, request, asked)
        match_id = member["proposal"]["match_id"]
        later = asked + timedelta(hours=2)
        await mentoring.accept(db, publisher, settings, ORG_A, "mentor-1", match_id, later)
        with pytest.raises(mentoring_model.MatchConflict):  # accepted twice: once is a match
            await mentoring.accept(db, publisher, settings, ORG_A, "mentor-1", match_id, later)

    assert spans.of(FACT_MENTORING_REQUESTED) == [{}]
    assert spans.of(FACT_MENTORING_MATCHED) == [{DURATION_MS: 2 * 3600 * 1000}]


async def test_a_check_in_becomes_overdue_once_however_often_and_by_whom_its_nudges_fire(
    mentoring_db: Db, stack: Stack, spans: Spans
) -> None:
    db = mentoring_db
    settings = MentoringSettings(
        jwt_public_key_file=stack.public_key,
        check_in_nudge_member_after_hours=1,
        check_in_nudge_mentor_after_hours=2,
    )
    pair = await checkins.start_pair(
        db, settings, ORG_A, "match-1", "member-1", "mentor-1", checkins.utcnow() - timedelta(days=7)
    )
    # The scheduler fires the member's nudge on two replicas, then the mentor's: no span around them.
    for who, hours in (("member", 1), ("member", 1), ("mentor", 2)):
        entry = {"org": ORG_A, "match_id": "match-1", "due_at": pair.due_at, "nudge": who}
        await checkins.fire(db, Publisher(), settings, entry, pair.due_at + timedelta(hours=hours))

    assert spans.of(FACT_MENTORING_CHECK_IN_OVERDUE) == [{}]


# --- meetings -------------------------------------------------------------------------------------


async def test_attending_counts_once_per_member_and_occurrence_by_meeting_and_never_who(
    scratch_db: Db, stack: Stack, spans: Spans
) -> None:
    settings = MeetingsSettings(jwt_public_key_file=stack.public_key)
    listing = Listing.model_validate(
        {"name": "Hope", "day": 2, "time": "19:00", "end_time": "20:00", "timezone": "America/Chicago",
         "address": "1 Main St"}
    )  # fmt: skip
    meeting = Meeting("m1", ORG_A, "hope", listing, datetime(2026, 1, 1, tzinfo=UTC), "active", (), ())
    await meetings_store.meetings(scratch_db, ORG_A).insert_one(meetings_store.to_doc(meeting))
    tuesday = date(2026, 12, 1)
    occurrence = recurrence.occurrence_on(meeting, tuesday)
    assert occurrence is not None
    with spans.as_org():
        for _ in range(2):  # the facilitator marks the member twice
            await attendance.mark(
                scratch_db, Publisher(), settings, ORG_A, "m1", tuesday, "member-1",
                occurrence.starts_at + timedelta(minutes=5),
            )  # fmt: skip

    assert spans.of(FACT_MEETING_ATTENDED) == [{MEETING_ID: "m1"}]
