"""Notification use cases: turn an event into messages, deliver them once per channel, and the inbox.

An event's messages are rendered and written to the recipients' inboxes first (the record that is
always there), then each pushed channel is a delivery with its own idempotency key, claimed by
revision before every attempt (shared.revisions): a redelivered event, a restart or a second replica
finds the key taken and sends nothing twice. A failed attempt is retried with back-off by the durable
scheduler (shared.scheduler); a crisis message that fails on a channel falls back to the next at
once. Every attempt is logged, and reported by `NotificationDelivered` / `NotificationFailed`.

A person taken off their organization's crisis staff (`CrisisResponderDeactivated`) is sent no crisis
message caused until then: those waiting are cancelled at once, and a send that was under way and
comes back for a retry, a fallback or a late event's message meets the same check before it is
claimed. A cancelled delivery says why in its attempt log and in a final `NotificationFailed`.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.crisis import CrisisEscalated, CrisisFollowUpScheduled
from contracts.envelope import Event
from contracts.ids import id_for
from contracts.notifications import (
    Channel,
    NotificationDelivered,
    NotificationDeliveredData,
    NotificationFailed,
    NotificationFailedData,
)
from services.notifications import catalogue, model, store, templates
from services.notifications.channels import Adapter, Outcome, Outgoing
from services.notifications.live import Hub
from services.notifications.model import Notification, Person
from shared import scheduler, webhooks
from shared.auth.principal import Principal
from shared.messaging.publisher import EventPublisher
from shared.outbox import entries as outbox_entries
from shared.outbox import with_outbox, write_then_publish
from shared.revisions import REV, write_revision
from shared.telemetry import (
    CATEGORY,
    CHANNEL,
    DURATION_MS,
    FACT_CRISIS_FIRST_DELIVERY,
    FACT_NOTIFICATION_DELIVERED,
    FACT_NOTIFICATION_FAILED,
    FACT_NOTIFICATION_FALLBACK,
    ORG,
    background_tracer,
    record_fact,
)

log = logging.getLogger(__name__)
Db = store.Db
Document = dict[str, Any]
SOURCE = "notifications"
# A claimed attempt whose sender never reports back (it died) is tried again after this.
LEASE = timedelta(seconds=30)
# A send that takes longer gives up: well inside the lease, so nobody else claims it meanwhile.
SEND_TIMEOUT = LEASE / 2
# How long an event's handler waits for its sends before it lets the slow ones go on by themselves.
SEND_WAIT = timedelta(seconds=5)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Senders:
    """The channel adapters, and where the links in messages point (by their first path segment)."""

    adapters: Mapping[Channel, Adapter]
    link_bases: Mapping[str, str]
    # Sends still under way when their event was acknowledged (see `handle`).
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def keep(self, task: asyncio.Task[None]) -> None:
        self.running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Its scheduler entry tries again after the lease: nothing is lost, say it once here.
            log.error("a send failed after its event was acknowledged: %r", task.exception())

    def url(self, link: str) -> str:
        base = self.link_bases.get(link.strip("/").split("/", 1)[0], "")
        return base.rstrip("/") + link


# ---- from an event to messages ------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    notification: Notification
    person: Person
    message: catalogue.Message
    caused_at: datetime  # the cause event's time, which a later deactivation is compared with
    # A regional team member's own organization, as crisis named it: whose record their contacts
    # come from, now and at every later attempt (`_recipient`).
    contact_org: str | None = None


def prepare(
    event: Event,
    messages: list[catalogue.Message],
    people: Mapping[str, Person],
    senders: Senders,
    now: datetime,
    contact_orgs: Mapping[str, str] | None = None,
) -> list[Prepared]:
    """Render every message the event causes, in each recipient's language and time zone.

    All or nothing: a template that fails raises `templates.TemplateError` before anything is written.
    """
    out = []
    # The recipients of one entry share its words: rendered once per language and time zone.
    rendered_as: dict[tuple[str, str, str, str], templates.Rendered] = {}
    for message in messages:
        person = people.get(message.recipient_id) or model.unknown_person(message.recipient_id, event.org)
        key = (message.template, message.link, person.language, person.timezone)
        if key not in rendered_as:
            rendered_as[key] = _render(message.template, person, message.context, senders.url(message.link))
        rendered = rendered_as[key]
        notification = Notification(
            id=model.notification_id(f"{event.id}:{message.template}", message.recipient_id),
            org=event.org,
            recipient_id=message.recipient_id,
            template=message.template,
            category=message.category,
            priority=message.priority,
            title=rendered.subject,
            body=rendered.text,
            link=message.link,
            cause_event_id=event.id,
            created_at=now,
            team_region=message.team_region,
        )
        contact_org = (contact_orgs or {}).get(message.recipient_id) if message.team_region else None
        out.append(Prepared(notification, person, message, event.time, contact_org))
    return out


def _render(template: str, person: Person, context: Mapping[str, Any], url: str) -> templates.Rendered:
    return templates.render(template, person.language, {**context, "url": url}, zone=person.timezone)


async def handle(db: Db, publisher: EventPublisher, senders: Senders, hub: Hub, event: Event) -> int:
    """Everything an event causes; returns how many inbox items were new. Safe to repeat."""
    messages = catalogue.messages(event)
    if not messages:
        return 0
    recipients = sorted({m.recipient_id for m in messages})
    team = sorted({m.recipient_id for m in messages if m.team_region is not None})
    orgs = team_orgs(event, team)
    now = utcnow()
    people = await store.people(db, event.org, recipients, team, orgs)
    prepared = prepare(event, messages, people, senders, now, orgs)
    written = {n.id for n in await write_inbox(db, publisher, [p.notification for p in prepared])}
    try:
        await _inbox_facts(db, [p for p in prepared if p.notification.id in written])
    except Exception:  # a figure of the dashboards must never hold up a crisis message
        log.exception("recording the inbox deliveries' facts failed")
    hub.wake(recipients)
    webhook = await store.has_webhook(db, event.org)
    due = await asyncio.gather(*(dispatch(db, publisher, senders, p, now, webhook=webhook) for p in prepared))
    await stop_if_deactivated(db, publisher, event, prepared, now)
    await send_now(db, publisher, senders, [delivery for ids in due for delivery in ids], now)
    return len(written)


def team_orgs(event: Event, team: Sequence[str]) -> dict[str, str]:
    """The organization of each regional team member crisis says is not the case organization's own
    (`responder_orgs`, or a caring contact's `responder_org`); empty for an event from before it said
    so, which keeps the old rule."""
    named: Mapping[str, str] | None = None
    if isinstance(event, CrisisEscalated):
        named = event.data.responder_orgs
    elif isinstance(event, CrisisFollowUpScheduled) and event.data.responder_org:
        named = {event.data.responder_id: event.data.responder_org}
    return {person: named[person] for person in team if person in named} if named else {}


async def _inbox_facts(db: Db, written: list[Prepared]) -> None:
    """The in-app deliveries just written for the first time (a redelivered event writes none)."""
    now = utcnow()
    escalated: dict[tuple[str, str], datetime] = {}
    for p in written:
        n = p.notification
        _delivered_fact("in_app", n.category, p.caused_at, now)
        if (case := catalogue.escalated_case(n.template, p.message.context)) is not None:
            case_id, alert_at = case
            escalated[n.org, case_id] = alert_at or p.caused_at
    # Every responder of a level hears at once: one first delivery for them all.
    for (org, case_id), alert_at in escalated.items():
        await _first_delivery_fact(db, org, case_id, alert_at, now)


async def stop_if_deactivated(
    db: Db, publisher: EventPublisher, event: Event, prepared: list[Prepared], now: datetime
) -> None:
    """A crisis event handled after its recipient was taken off the staff (the two are consumed side
    by side): its deliveries are cancelled now, so a deferred one says so now, not when it falls due."""
    # Taken off the staff of the case's organization, or of the one whose record reaches them.
    by_org: dict[str, set[str]] = {}
    for p in prepared:
        if p.notification.category == "crisis":
            for org in {event.org, p.contact_org or event.org}:
                by_org.setdefault(org, set()).add(p.notification.recipient_id)
    for org, people in sorted(by_org.items()):
        for person_id, at in (await store.deactivated_at(db, org, sorted(people))).items():
            if model.stopped_by_deactivation("crisis", event.time, at):
                await stop_held(db, publisher, org, person_id, at, now)


async def send_now(
    db: Db, publisher: EventPublisher, senders: Senders, delivery_ids: list[str], now: datetime
) -> None:
    """Send side by side; a send still going after SEND_WAIT goes on without holding up the event.

    Its delivery is stored with its scheduler entry already, so acknowledging the event loses
    nothing, and one slow channel (an SMTP server that hangs) cannot stall the consumer's
    escalations until JetStream redelivers them.
    """
    if not delivery_ids:
        return
    sends = [asyncio.create_task(attempt(db, publisher, senders, d, now)) for d in delivery_ids]
    done, slow = await asyncio.wait(sends, timeout=SEND_WAIT.total_seconds())
    for task in slow:
        senders.keep(task)
    for task in done:
        task.result()  # an error here: the event is redelivered, and the claims make that harmless


async def write_inbox(db: Db, publisher: EventPublisher, items: list[Notification]) -> list[Notification]:
    """Store each in-app notification once and announce it; returns those that were new.

    The cause event is acknowledged only after this returns, so it is its own outbox relay: if the
    process dies, or publishing fails, between the write and the announcement, the cause is
    delivered again, meets the stored notifications (same ids) and announces them again with the
    same event ids, rebuilt from them (`inbox_delivered`): JetStream drops a copy it already holds.
    Nothing else is stored for it, which keeps the write of a large fan-out small.
    """
    docs = [store.notification_to_doc(n) for n in items]
    created = items
    try:
        await db.notifications.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        there = {e["index"] for e in errors}
        created = [n for i, n in enumerate(items) if i not in there]
        ids = [n.id for n in items]
        items = [
            store.notification_from_doc(d)
            for d in await db.notifications.find({"_id": {"$in": ids}}).to_list()
        ]
    events = [inbox_delivered(n) for n in items]
    await publisher.publish_many(outbox_entries(events))
    return created


def inbox_delivered(n: Notification) -> Event:
    """The announcement of an inbox item, the same (id and all) whenever it is made from it."""
    data = NotificationDeliveredData(
        notification_id=n.id, recipient_id=n.recipient_id, channel="in_app", attempt=1,
        category=n.category, priority=n.priority, cause_event_id=n.cause_event_id,
    )  # fmt: skip
    return NotificationDelivered.create(
        source=SOURCE, org=n.org, subject=n.id, data=data,
        id=id_for(n.created_at, f"{n.id}:in_app"), time=n.created_at,
    )  # fmt: skip


# ---- deliveries on the pushed channels ------------------------------------------------------------


async def dispatch(
    db: Db, publisher: EventPublisher, senders: Senders, p: Prepared, now: datetime, *, webhook: bool = False
) -> list[str]:
    """Store the deliveries of one message's pushed channels: now, after quiet hours, or in the next
    digest; and the organization's webhook, if it has one, now (its systems keep no quiet hours).
    Returns the deliveries to send now."""
    plan = model.plan(p.person, p.notification.category, p.notification.priority, now)
    if webhook:
        plan = replace(plan, send_now=(*plan.send_now, "webhook"))
    planned = plan.send_now + plan.deferred
    for channel in plan.send_now:
        delivery = new_delivery(p.notification, p.message, channel, planned, now, p.caused_at, p.contact_org)
        await create_delivery(db, delivery)
    for channel in plan.deferred:
        assert plan.defer_until is not None
        at = plan.defer_until
        deferred = new_delivery(p.notification, p.message, channel, planned, at, p.caused_at, p.contact_org)
        await create_delivery(db, deferred)
    if plan.digest_at is not None:
        await add_to_digest(db, p.person, p.notification, plan.digest_at)
    return [model.delivery_id(p.notification.id, c) for c in plan.send_now]


def new_delivery(
    n: Notification,
    message: catalogue.Message,
    channel: Channel,
    planned: tuple[Channel, ...],
    at: datetime,
    caused_at: datetime,
    contact_org: str | None = None,
) -> Document:
    """The idempotency key of (notification, channel), due `at`, with what it takes to send it."""
    return {
        "_id": model.delivery_id(n.id, channel), "org": n.org, "notification_id": n.id,
        "recipient_id": n.recipient_id, "channel": channel, "template": message.template,
        "context": message.context, "link": n.link, "category": n.category, "priority": n.priority,
        "cause_event_id": n.cause_event_id, "cause_at": caused_at, "team_region": n.team_region,
        "contact_org": contact_org, "planned": list(planned), "state": "pending", "attempts": 0,
        "next_at": at, "created_at": utcnow(), REV: 0,
    }  # fmt: skip


async def create_delivery(db: Db, doc: Document) -> bool:
    """Store a delivery, once (nothing if its key exists already), with its scheduler entry: at its
    time for a deferred one, and for one sent now a check after the lease, which finds it done, or
    finds that its sender died and sends it. True if this call stored it."""
    at = max(doc["next_at"], utcnow() + LEASE)
    await scheduler.schedule(db.schedule, f"delivery:{doc['_id']}:0", at, delivery_id=doc["_id"])
    try:
        await db.deliveries.insert_one(doc)
        return True
    except DuplicateKeyError:
        return False


async def attempt(
    db: Db, publisher: EventPublisher, senders: Senders, delivery_id: str, now: datetime
) -> None:
    """Claim the delivery and send it, if it is due and nobody else has it."""
    doc = await db.deliveries.find_one({"_id": delivery_id})
    if doc is None or doc["state"] in ("delivered", "failed", "sent"):
        return
    if doc["state"] == "cancelled":  # its status may be all a crash left of the cancellation
        await _log_cancelled(db, publisher, doc, now)
        return
    busy_until = doc["next_at"] if doc["state"] == "pending" else doc.get("lease_until", now)
    if busy_until > now:  # not due yet, or another sender holds it: look again then
        await _check_at(db, doc, busy_until)
        return
    if doc["category"] == "crisis" and await _recipient_deactivated(db, doc):
        await cancel(db, publisher, doc, now)
        return
    with _org_span(f"deliver {doc['channel']}", doc["org"]):
        number = doc["attempts"] + 1
        lease_until = utcnow() + LEASE  # from the claim, not from when the caller started
        claim = {"state": "sending", "attempts": number, "lease_until": lease_until}
        if not await write_revision(db.deliveries, delivery_id, doc[REV], claim):
            return  # another sender claimed this attempt
        doc = {**doc, **claim, REV: doc[REV] + 1}
        # The claim's own safety net: if this process dies now, the scheduler tries again after the lease.
        await _check_at(db, doc, lease_until)
        person = await _recipient(db, doc)
        try:
            async with asyncio.timeout(SEND_TIMEOUT.total_seconds()):
                outcome = await _send(senders, doc, person)
        except TimeoutError:
            outcome = Outcome(ok=False, reason="timeout")
        await settle(db, publisher, senders, doc, person, outcome, utcnow())


@contextlib.contextmanager
def _org_span(name: str, org: str) -> Iterator[trace.Span]:
    """A span naming the organization, so what a delivery records counts for it: a send may run with
    no event's span around it (a retry the scheduler fires, the SMS provider's report), or outlive
    the span of the event that caused it (a slow channel, see `send_now`)."""
    with background_tracer().start_as_current_span(name, attributes={ORG: org}) as span:
        yield span


async def _recipient(db: Db, doc: Document) -> Person:
    """The recipient's contacts as they are now (they may have changed since the message was made),
    from the record the message was made with (`contact_org`, kept on the delivery)."""
    person_id = doc["recipient_id"]
    team = [person_id] if doc.get("team_region") else []
    orgs = {person_id: doc["contact_org"]} if doc.get("contact_org") else None
    found = await store.people(db, doc["org"], [person_id], team, orgs)
    return found.get(person_id) or model.unknown_person(person_id, doc["org"])


async def _send(senders: Senders, doc: Document, person: Person) -> Outcome:
    adapter = senders.adapters.get(doc["channel"])
    if adapter is None:
        return Outcome(ok=False, reason="channel not configured", retry=False)
    try:
        rendered = _render(doc["template"], person, doc["context"], senders.url(doc["link"]))
    except templates.TemplateError as exc:
        log.error("delivery %s cannot be rendered: %s", doc["_id"], exc)
        return Outcome(ok=False, reason="template error", retry=False)
    return await adapter.send(Outgoing(doc["_id"], doc["org"], person, rendered, senders.url(doc["link"])))


async def _check_at(db: Db, doc: Document, at: datetime) -> None:
    await scheduler.schedule(db.schedule, f"delivery:{doc['_id']}:{doc[REV]}", at, delivery_id=doc["_id"])


async def settle(
    db: Db,
    publisher: EventPublisher,
    senders: Senders,
    doc: Document,
    person: Person,
    outcome: Outcome,
    now: datetime,
) -> None:
    """Record an attempt's outcome, and decide what comes next: done, a retry, a fallback."""
    number, priority, channel, rev = doc["attempts"], doc["priority"], doc["channel"], doc[REV]
    # The state first, the log after: a sender whose lease ran out (another took over) logs nothing.
    if outcome.ok and outcome.provider_id:
        # Accepted: the provider's status callback says delivered or failed (sms_status).
        if await write_revision(
            db.deliveries, doc["_id"], rev, {"state": "sent", "provider_id": outcome.provider_id}
        ):
            await _log_attempt(db, publisher, doc, number, "accepted", None, now)
            await _early_sms_status(db, publisher, senders, doc["_id"], now)
        return
    if outcome.ok:
        if await write_revision(db.deliveries, doc["_id"], rev, {"state": "delivered"}):
            await _log_attempt(db, publisher, doc, number, "delivered", _delivered(doc, number), now)
            await _delivery_facts(db, doc, now)
        return
    final = not outcome.retry or number >= model.max_attempts(priority)
    # A crisis message does not wait for retries of a failing channel: the next one starts now.
    fallback = final or doc["category"] == "crisis"
    next_channel = model.fallback(person, channel, tuple(doc["planned"])) if fallback else None
    next_at = now + model.retry_delay(priority, number)
    update = {"state": "failed"} if final else {"state": "pending", "next_at": next_at}
    if not await write_revision(db.deliveries, doc["_id"], rev, update):
        return
    failed = _failed(doc, number, outcome.reason or "failed", final, next_channel)
    await _log_attempt(db, publisher, doc, number, "failed", failed, now, reason=outcome.reason)
    if final:
        record_fact(FACT_NOTIFICATION_FAILED, {CHANNEL: channel, CATEGORY: doc["category"]})
    if not final:
        await _check_at(db, {**doc, REV: rev + 1}, next_at)
    if next_channel is not None:
        await fall_back(db, publisher, senders, doc, next_channel, now)


async def fall_back(
    db: Db, publisher: EventPublisher, senders: Senders, doc: Document, channel: Channel, now: datetime
) -> None:
    """Send the message on `channel` too (once: the new delivery's key is taken like any other)."""
    runtime = ("state", "attempts", "next_at", "lease_until", "provider_id", "provider_status", REV)
    copy = {k: v for k, v in doc.items() if k not in runtime}
    delivery_id = model.delivery_id(doc["notification_id"], channel)
    planned = [*doc["planned"], channel]
    created = await create_delivery(
        db, {**copy, "_id": delivery_id, "channel": channel, "planned": planned, "state": "pending",
             "attempts": 0, "next_at": now, "created_at": utcnow(), REV: 0},
    )  # fmt: skip
    if created and doc["category"] == "crisis":  # each failed attempt of a crisis channel falls back anew
        record_fact(FACT_NOTIFICATION_FALLBACK, {CHANNEL: doc["channel"]})
    await attempt(db, publisher, senders, delivery_id, now)


async def _delivery_facts(db: Db, doc: Document, now: datetime) -> None:
    """A pushed channel delivered a message: recorded by the writer of its `delivered` state, once."""
    _delivered_fact(doc["channel"], doc["category"], _caused_at(doc), now)
    if (case := catalogue.escalated_case(doc["template"], doc["context"])) is not None:
        case_id, alert_at = case
        await _first_delivery_fact(db, doc["org"], case_id, alert_at or _caused_at(doc), now)


def _delivered_fact(channel: Channel, category: str, caused_at: datetime, now: datetime) -> None:
    since = (now - caused_at).total_seconds() * 1000
    record_fact(FACT_NOTIFICATION_DELIVERED, {CHANNEL: channel, CATEGORY: category, DURATION_MS: since})


async def _first_delivery_fact(db: Db, org: str, case_id: str, alert_at: datetime, now: datetime) -> None:
    """The first escalation of a case delivered, on any channel, timed from the person's alert (from
    the escalation, for one published before escalations carried the alert's time)."""
    if await store.first_delivery(db, org, case_id, now):
        record_fact(FACT_CRISIS_FIRST_DELIVERY, {DURATION_MS: (now - alert_at).total_seconds() * 1000})


async def _log_attempt(
    db: Db,
    publisher: EventPublisher,
    doc: Document,
    number: int,
    outcome: str,
    event: Event | None,
    now: datetime,
    *,
    reason: str | None = None,
) -> None:
    """One line of the attempt log, and the event that reports it (relayed if this process dies)."""
    line = {
        "_id": f"{doc['_id']}:{number}:{outcome}", "org": doc["org"], "delivery_id": doc["_id"],
        "notification_id": doc["notification_id"], "channel": doc["channel"], "attempt": number,
        "outcome": outcome, "reason": reason, "at": now,
    }  # fmt: skip
    events = [event] if event else []

    async def write() -> None:
        await db.attempts.insert_one(with_outbox(line, events))

    with contextlib.suppress(DuplicateKeyError):  # the same outcome reported twice (a callback retried)
        await write_then_publish(db.attempts, line["_id"], events, publisher, write)


def _outcome_fields(doc: Document, number: int) -> dict[str, Any]:
    return {
        "notification_id": doc["notification_id"], "recipient_id": doc["recipient_id"],
        "channel": doc["channel"], "attempt": number, "category": doc["category"],
        "priority": doc["priority"], "cause_event_id": doc["cause_event_id"],
    }  # fmt: skip


def _delivered(doc: Document, number: int) -> Event:
    data = NotificationDeliveredData(**_outcome_fields(doc, number))
    return NotificationDelivered.create(
        source=SOURCE, org=doc["org"], subject=doc["notification_id"], data=data
    )


def _failed(doc: Document, number: int, reason: str, final: bool, fallback: Channel | None) -> Event:
    data = NotificationFailedData(
        **_outcome_fields(doc, number), reason=reason, final=final, fallback=fallback
    )
    return NotificationFailed.create(source=SOURCE, org=doc["org"], subject=doc["notification_id"], data=data)


async def sms_status(
    db: Db,
    publisher: EventPublisher,
    senders: Senders,
    delivery_id: str,
    provider_id: str,
    status: str,
    now: datetime,
) -> bool:
    """The SMS provider's report on a message it accepted; False if there is no such delivery.

    The report can come before this service has recorded that the provider accepted the message:
    it is then kept on the delivery, and the sender applies it once it has (`_early_sms_status`).
    """
    doc = await db.deliveries.find_one({"_id": delivery_id, "channel": "sms"})
    if doc is None:
        return False
    if status not in ("delivered", "failed", "undelivered"):
        return True  # an intermediate status: queued, sending, sent
    if doc["state"] == "sending":
        await db.deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"provider_status": [provider_id, status]}}
        )
        # The sender may have recorded the acceptance meanwhile: then it is this report's to apply.
        doc = await db.deliveries.find_one({"_id": delivery_id}) or doc
    if doc["state"] == "sent" and doc.get("provider_id") == provider_id:
        with _org_span("sms status", doc["org"]):
            await _apply_sms_status(db, publisher, senders, doc, status, now)
    return True


async def _early_sms_status(
    db: Db, publisher: EventPublisher, senders: Senders, delivery_id: str, now: datetime
) -> None:
    doc = await db.deliveries.find_one({"_id": delivery_id})
    if doc and doc.get("provider_status") and doc["provider_status"][0] == doc.get("provider_id"):
        await _apply_sms_status(db, publisher, senders, doc, doc["provider_status"][1], now)


async def _apply_sms_status(
    db: Db, publisher: EventPublisher, senders: Senders, doc: Document, status: str, now: datetime
) -> None:
    """Once per delivery (a revision from `sent`): delivered, or failed and on to the next channel."""
    number = doc["attempts"]
    if status == "delivered":
        if await write_revision(db.deliveries, doc["_id"], doc[REV], {"state": "delivered"}):
            await _log_attempt(db, publisher, doc, number, "delivered", _delivered(doc, number), now)
            await _delivery_facts(db, doc, now)
        return
    # The provider could not deliver to the number: trying the same number again is no use.
    person = await _recipient(db, doc)
    await settle(db, publisher, senders, doc, person, Outcome(ok=False, reason=status, retry=False), now)


# ---- a responder taken off the crisis staff ---------------------------------------------------------


async def responder_deactivated(
    db: Db, publisher: EventPublisher, org: str, person_id: str, at: datetime, now: datetime
) -> int:
    """Stop the crisis messages still waiting to reach a person taken off the organization's crisis
    staff at `at`; returns how many were stopped now. Safe to repeat: a redelivery stops nothing more."""
    await store.record_deactivation(db, org, person_id, at)
    return await stop_held(db, publisher, org, person_id, at, now)


async def stop_held(
    db: Db, publisher: EventPublisher, org: str, person_id: str, deactivated_at: datetime, now: datetime
) -> int:
    """Cancel the person's waiting crisis deliveries caused by `deactivated_at`. A delivery being sent
    right now is left to its sender: the message may be out already, and if it fails, its retry or
    fallback meets the check in `attempt`."""
    stopped = 0
    for doc in await store.held_crisis_deliveries(db, org, person_id):
        if model.stopped_by_deactivation(doc["category"], _caused_at(doc), deactivated_at):
            stopped += await cancel(db, publisher, doc, now)
    return stopped


def _caused_at(doc: Document) -> datetime:
    # Deliveries stored before the cause's time was kept on them have only their own creation time.
    caused: datetime = doc.get("cause_at") or doc["created_at"]
    return caused


async def _recipient_deactivated(db: Db, doc: Document) -> bool:
    """Taken off the crisis staff of the delivery's organization, or of the one whose record reaches
    them (`contact_org`: a regional team member from elsewhere, whom that one vouches for)."""
    person_id = doc["recipient_id"]
    for org in {doc["org"], doc.get("contact_org") or doc["org"]}:
        found = await store.deactivated_at(db, org, [person_id])
        if model.stopped_by_deactivation(doc["category"], _caused_at(doc), found.get(person_id)):
            return True
    return False


async def cancel(db: Db, publisher: EventPublisher, doc: Document, now: datetime) -> bool:
    """Stop a delivery for good, its reason in its status; True if this call stopped it.

    `doc` waits for its time, or its sender's lease ran out (it died): a claimed send under way has
    a newer revision, so the write loses and the sender settles it as usual.
    """
    if doc["state"] == "cancelled":
        await _log_cancelled(db, publisher, doc, now)
        return False
    update = {"state": "cancelled", "reason": model.RESPONDER_DEACTIVATED}
    if not await write_revision(db.deliveries, doc["_id"], doc[REV], update):
        return False
    # Its next look would find it cancelled; forgetting it keeps the scheduler's collection small.
    await scheduler.cancel(db.schedule, f"delivery:{doc['_id']}:{doc[REV]}")
    await _log_cancelled(db, publisher, {**doc, **update, REV: doc[REV] + 1}, now)
    return True


async def _log_cancelled(db: Db, publisher: EventPublisher, doc: Document, now: datetime) -> None:
    """The attempt that will not be made, in the log and as the channel's final NotificationFailed;
    written once, however often a redelivery or a stale scheduler entry meets the cancellation."""
    number = doc["attempts"] + 1
    if await db.attempts.find_one({"_id": f"{doc['_id']}:{number}:cancelled"}, {"_id": 1}) is not None:
        return
    reason = doc.get("reason") or model.RESPONDER_DEACTIVATED
    failed = _failed(doc, number, reason, final=True, fallback=None)
    await _log_attempt(db, publisher, doc, number, "cancelled", failed, now, reason=reason)


# ---- digests ------------------------------------------------------------------------------------


async def add_to_digest(db: Db, person: Person, n: Notification, send_at: datetime) -> None:
    key = model.digest_key(person, send_at)
    await scheduler.schedule(db.schedule, f"digest:{key}", send_at, digest_id=key)
    await db.digests.update_one(
        {"_id": key},
        {"$setOnInsert": {"org": person.org, "person_id": person.id, "send_at": send_at},
         "$addToSet": {"items": n.id}},
        upsert=True,
    )  # fmt: skip


async def send_digest(
    db: Db, publisher: EventPublisher, senders: Senders, digest_id: str, now: datetime
) -> None:
    """The digest as one email (the messages are in the inbox already); once, as any delivery."""
    digest = await db.digests.find_one({"_id": digest_id})
    if digest is None:
        return
    query = {"_id": {"$in": digest["items"]}, "org": digest["org"]}
    items = await db.notifications.find(query, sort=[("created_at", 1)]).to_list()
    person = await store.person(db, digest["org"], digest["person_id"])
    if not items or person is None or "email" not in model.reachable(person):
        return
    context = {
        "items": [
            {"title": i["title"], "url": senders.url(i["link"]), "created_at": i["created_at"]} for i in items
        ]
    }
    delivery_id = f"digest:{digest_id}:email"
    doc = {
        "_id": delivery_id, "org": digest["org"], "notification_id": f"digest:{digest_id}",
        "recipient_id": person.id, "channel": "email", "template": catalogue.DIGEST_TEMPLATE,
        "context": context, "link": "/notifications/inbox", "category": "digest", "priority": "low",
        "cause_event_id": digest_id, "team_region": None, "planned": ["email"],
        "state": "pending", "attempts": 0, "next_at": now, "created_at": now, REV: 0,
    }  # fmt: skip
    await create_delivery(db, doc)
    await attempt(db, publisher, senders, delivery_id, now)


# ---- the scheduler's entries ----------------------------------------------------------------------


async def fire(db: Db, publisher: EventPublisher, senders: Senders, entry: Document) -> None:
    """A scheduler entry: a delivery to try or check, or a digest to send. Idempotent, as it must be."""
    if "delivery_id" in entry:
        await attempt(db, publisher, senders, entry["delivery_id"], utcnow())
    elif "digest_id" in entry:
        await send_digest(db, publisher, senders, entry["digest_id"], utcnow())


# ---- the inbox ----------------------------------------------------------------------------------


def inbox_filter(caller: Principal) -> Document:
    """The caller's own inbox: their organization's (from the token, never the request), and for a
    regional responder those addressed to them from their regions' cases."""
    return store.inbox_filter(caller.org, caller.sub, model.team_regions(caller))


async def inbox(db: Db, caller: Principal, limit: int, *, unread_only: bool = False) -> list[Notification]:
    query = {**inbox_filter(caller), **({"read_at": None} if unread_only else {})}
    docs = await db.notifications.find(query, sort=[("created_at", -1), ("_id", -1)], limit=limit).to_list()
    return [store.notification_from_doc(d) for d in docs]


async def unread_count(db: Db, caller: Principal) -> int:
    return await db.notifications.count_documents({**inbox_filter(caller), "read_at": None})


async def mark_read(db: Db, caller: Principal, notification_id: str, now: datetime) -> bool:
    """False if the caller has no such notification (whoever else may have it)."""
    found = await db.notifications.find_one({**inbox_filter(caller), "_id": notification_id}, {"read_at": 1})
    if found is None:
        return False
    if found.get("read_at") is None:
        query = {**inbox_filter(caller), "_id": notification_id, "read_at": None}
        await db.notifications.update_one(query, {"$set": {"read_at": now}})
    return True


async def mark_all_read(db: Db, caller: Principal, now: datetime) -> int:
    result = await db.notifications.update_many(
        {**inbox_filter(caller), "read_at": None}, {"$set": {"read_at": now}}
    )
    return result.modified_count


def cursor(n: Notification) -> str:
    """A live stream's event id: where a reconnecting page resumes (Last-Event-ID)."""
    return f"{n.created_at.astimezone(UTC).isoformat()}|{n.id}"


def parse_cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value or "|" not in value:
        return None
    at, _, notification = value.partition("|")
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), notification


# A notification's time is taken before it is written, so one written late (events are handled side
# by side, on two replicas) can carry an earlier time than one a stream has sent already. A stream
# therefore looks this far back behind its cursor and skips the ids it has sent; a client that
# resumes gets that stretch again and skips the ids it has (every event carries its id).
LOOKBACK = timedelta(seconds=10)
# A live stream also looks at the store this often: notifications written by another replica.
POLL_SECONDS = 2.0


async def since(
    db: Db,
    caller: Principal,
    after: tuple[datetime, str] | None,
    sent: Set[str] = frozenset(),
    limit: int = 100,
) -> list[Notification]:
    """The caller's notifications from LOOKBACK before a cursor on (the last day's without one),
    oldest first, but those in `sent`."""
    start = after[0] - LOOKBACK if after else utcnow() - timedelta(days=1)
    query = {**inbox_filter(caller), "created_at": {"$gte": start}}
    docs = await db.notifications.find(
        query, sort=[("created_at", 1), ("_id", 1)], limit=limit + len(sent)
    ).to_list()
    return [n for n in map(store.notification_from_doc, docs) if n.id not in sent][:limit]


async def live(
    db: Db,
    hub: Hub,
    caller: Principal,
    after: tuple[datetime, str] | None,
    gone: Callable[[], Awaitable[bool]],
) -> AsyncIterator[Notification]:
    """The caller's notifications as they are written, from a cursor on, until `gone()`: woken at
    once by this replica's writes, and looking at the store every POLL_SECONDS for another's."""
    sent: dict[str, datetime] = {}  # what this stream sent within LOOKBACK of its cursor
    while not await gone():
        for n in await since(db, caller, after, sent.keys()):
            sent[n.id] = n.created_at
            after = max(after, (n.created_at, n.id)) if after else (n.created_at, n.id)
            yield n
        if after:
            sent = {i: at for i, at in sent.items() if at >= after[0] - LOOKBACK}
        await hub.wait(caller.sub, POLL_SECONDS)


async def attempts(db: Db, org: str, notification_id: str) -> list[Document]:
    """Every attempt to deliver one of the organization's notifications, oldest first."""
    fields = ("channel", "attempt", "outcome", "reason", "at")
    docs = await db.attempts.find(
        {"org": org, "notification_id": notification_id}, sort=[("at", 1)]
    ).to_list()
    return [{k: d.get(k) for k in fields} for d in docs]


# ---- the organization's webhook ---------------------------------------------------------------


async def register_webhook(db: Db, org: str, url: str, *, allow_private: bool) -> str:
    """Save the organization's endpoint if it is somewhere we send to (422 says why not); returns its
    new signing secret, shown once."""
    await webhooks.vet(url, allow_private=allow_private)
    secret = webhooks.new_secret()
    doc = {"org": org, "url": url, "secret": secret, "updated_at": utcnow()}
    await db.webhooks.update_one({"_id": org}, {"$set": doc}, upsert=True)
    return secret


async def delete_webhook(db: Db, org: str) -> None:
    """Stop posting; deliveries still pending give up (their attempt says so)."""
    await db.webhooks.delete_one({"_id": org})


# ---- contacts and preferences ---------------------------------------------------------------------


async def recorded_person(db: Db, org: str, person_id: str) -> Person | None:
    """The organization's record of a person, if it has one."""
    return await store.person(db, org, person_id)


async def person_of(db: Db, org: str, person_id: str) -> Person:
    """A person's settings in an organization (defaults where nothing is set)."""
    return await store.person(db, org, person_id) or model.unknown_person(person_id, org)


async def update_own(db: Db, caller: Principal, **changes: Any) -> Person:
    """A person's own change, in their organization (the token's), and confirmed as theirs."""
    person = replace(await person_of(db, caller.org, caller.sub), **changes)
    await store.save_person(db, person, changes, by=caller.sub, confirmed=True)
    return person


async def update_staff(db: Db, admin: Principal, person_id: str, **changes: Any) -> Person:
    """An org admin's change to their organization's record of a person (another organization's
    record of the same person is that organization's, and stays as it is)."""
    person = replace(await person_of(db, admin.org, person_id), **changes)
    await store.save_person(db, person, changes, by=admin.sub, confirmed=False)
    return person
