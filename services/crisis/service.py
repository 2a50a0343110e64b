"""Crisis use cases: load, apply the model, save with the outbox, publish.

Every change to a case goes through `change_case`: read, apply a model transition, and write back
only if nobody wrote in between (the `rev` field). That one rule makes a timer firing on two
replicas escalate once, and an acknowledgement racing an escalation come out in a clean order.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.crisis import (
    Channel,
    CrisisAcknowledged,
    CrisisAlertReceived,
    CrisisAlertReceivedData,
    CrisisEscalated,
    CrisisFollowUpCompleted,
    CrisisRaised,
    CrisisResponderDeactivated,
    CrisisResponderDeactivatedData,
    CrisisUrgentAlertReceived,
    Severity,
)
from contracts.envelope import Event
from contracts.ids import new_id
from services.crisis import model, store
from shared import scheduler
from shared.auth.principal import Principal, Role
from shared.crypto import Sealer
from shared.messaging.publisher import EventPublisher, PublishFailed
from shared.network import Network
from shared.outbox import OUTBOX, appended, with_outbox, write_then_publish
from shared.revisions import REV, write_revision
from shared.telemetry import (
    CASE_ID,
    CATCH_ALL,
    CRISIS_LEVEL,
    DURATION_MS,
    FACT_CRISIS_ACKNOWLEDGED,
    FACT_CRISIS_ESCALATED,
    FACT_CRISIS_FOLLOW_UP_DONE,
    FACT_CRISIS_OPENED,
    ON_TIME,
    ORG,
    background_tracer,
    record_fact,
)

log = logging.getLogger(__name__)
Db = AsyncDatabase[dict[str, Any]]
Transition = Callable[[model.Case], list[Event]]
Clock = Callable[[], datetime]
MAX_RACES = 20
MAX_OPEN_CASES = 20_000  # far beyond any surge the network has seen; a bound, not a page size
TIMER_CONCURRENCY = 16  # deadlines firing at once, each a few reads and writes
URGENT_FIRST = 5.0  # seconds a routine alert waits for urgent ones, well inside the ack wait


# Who works the cases of their own organization (the regional team works those that reached it).
STAFF_ROLES = (Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def case_org(db: Db, caller: Principal, case_id: str) -> str | None:
    """The organization of a case the caller may work on or read; None whenever they may not."""
    if caller.has_any(*STAFF_ROLES, Role.MEMBER):
        doc = await store.cases(db, caller.org).find_one({"_id": case_id})
        if doc and (caller.has_any(*STAFF_ROLES) or doc["member_id"] == caller.sub):
            return caller.org
    if caller.has_any(Role.REGIONAL_RESPONDER) and caller.regions:
        # The one cross-organization read: cases of the caller's regions that reached the regional team.
        doc = await db.cases.find_one(
            {"_id": case_id, "regional": True, "region": {"$in": list(caller.regions)}}
        )
        if doc:
            return str(doc["org"])
    return None


async def responder_org(db: Db, org: str, caller: Principal) -> str | None:
    """The caller's organization when they work a case of `org` without being on its active staff (a
    regional team member from elsewhere): their own organization's contacts are the ones to use."""
    if caller.org == org:
        return None
    on_staff = await store.staff(db, org).find_one({"responder_id": caller.sub, "active": {"$ne": False}})
    return None if on_staff else caller.org


async def list_cases(db: Db, caller: Principal, *, open_: bool, limit: int) -> list[model.Case]:
    """Cases of the caller's organization (a regional team: of its regions). Open ones as a responder
    takes them, the gravest first and then the one waiting longest; closed ones newest first."""
    states = list(model.OPEN_STATES) if open_ else ["resolved", "cancelled"]
    query: dict[str, Any] = {"state": {"$in": states}}
    if caller.has_any(*STAFF_ROLES):
        query["org"] = caller.org
    else:
        query.update(regional=True, region={"$in": sorted(caller.regions)})
    if not open_:
        docs = await db.cases.find(query, sort=[("opened_at", -1)], limit=limit).to_list()
        return [store.doc_to_case(d) for d in docs]
    # Every open case is read before the cut: the store cannot sort by severity, and taking the newest
    # first would leave out exactly the cases that have waited longest.
    # Without what a list never shows (notes, the timeline, the outbox): it is read on every live event.
    light = {store.NOTES: 0, "timeline": 0, OUTBOX: 0}
    cases = [store.doc_to_case(d) for d in await db.cases.find(query, light, limit=MAX_OPEN_CASES).to_list()]
    cases.sort(key=lambda c: (-model.SEVERITY_RANK[c.severity], c.opened_at))
    return cases[:limit]


async def load_staff(db: Db, org: str) -> dict[str, frozenset[str]]:
    """Who can be reached: the active crisis staff (a deactivated person is never targeted again)."""
    return (await _load_staff(db, org))[0]


async def _load_staff(db: Db, org: str) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """The active staff (id -> roles), and who has been deactivated."""
    docs = await store.staff(db, org).find({}, limit=5000)
    active = {d["responder_id"]: frozenset(d["roles"]) for d in docs if d.get("active", True)}
    return active, frozenset(d["responder_id"] for d in docs if not d.get("active", True))


async def load_rosters(db: Db, org: str) -> dict[str, model.Roster]:
    return {d["roster_id"]: store.doc_to_roster(d) for d in await store.rosters(db, org).find({}, limit=1000)}


async def load_reach(db: Db, network: Network, org: str) -> model.Reach:
    organization = network.organization(org)
    region = organization.region if organization else None
    team = await store.regional_teams(db).find_one({"_id": region}) if region else None
    members: list[str] = team["responder_ids"] if team else []
    vouched: dict[str, str] = {}
    if members:  # only those still active on the staff of one of the region's organizations
        orgs = [o.id for o in network.organizations if o.region == region]
        vouched = await store.regional_responders(db, orgs, members)
        members = [m for m in members if m in vouched]
    staff, inactive = await _load_staff(db, org)
    return model.Reach(
        staff=staff,
        rosters=await load_rosters(db, org),
        regional_team=tuple(members),
        region=region,
        inactive=inactive,
        # Members not on this organization's staff are reached through their own one's contacts.
        team_orgs={m: vouched[m] for m in members if m not in staff},
    )


async def load_roster(db: Db, org: str, roster_id: str) -> model.Roster | None:
    doc = await store.rosters(db, org).find_one({"roster_id": roster_id})
    return store.doc_to_roster(doc) if doc else None


async def read_audit(db: Db, org: str, case_id: str) -> list[dict[str, Any]] | None:
    """Who read the case and when; None if the organization has no such case."""
    if await store.cases(db, org).find_one({"_id": case_id}) is None:
        return None
    return await store.audit(db, org).find({"case_id": case_id}, limit=10_000)


async def own_protocol(db: Db, org: str) -> model.Protocol | None:
    """The protocol the organization saved, if it saved one."""
    doc = await store.protocols(db, org).find_one({})
    return store.doc_to_protocol(doc) if doc else None


async def load_protocol(db: Db, org: str) -> model.Protocol:
    return await own_protocol(db, org) or model.Protocol()


@dataclass
class Directory:
    """The protocol and the reach of each organization, read at most once per `ttl` seconds.

    Every alert and every escalation needs them: four reads of data that changes rarely, half of
    an alert's database time on the local store. A change saved here applies at once in this
    process and within `ttl` on other replicas.
    """

    ttl: float = 2.0
    _cached: dict[str, tuple[float, model.Protocol, model.Reach]] = field(default_factory=dict)
    # One read per organization at a time: when the entry expires under load, every alert in flight
    # waits for the same read instead of making its own (measured: 6% of crisis's CPU at 40/s).
    _reading: dict[str, asyncio.Task[tuple[model.Protocol, model.Reach]]] = field(default_factory=dict)
    _generation: int = 0

    async def lookup(self, db: Db, network: Network, org: str) -> tuple[model.Protocol, model.Reach]:
        hit = self._cached.get(org)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1], hit[2]
        reading = self._reading.get(org)
        if reading is None:
            reading = self._reading[org] = asyncio.create_task(self._read(db, network, org))
            reading.add_done_callback(
                lambda done: self._reading.pop(org) if self._reading.get(org) is done else None
            )
        return await asyncio.shield(reading)

    async def _read(self, db: Db, network: Network, org: str) -> tuple[model.Protocol, model.Reach]:
        generation = self._generation
        protocol, reach = await load_protocol(db, org), await load_reach(db, network, org)
        if generation == self._generation:  # a read begun before a change is not cached after it
            self._cached[org] = (time.monotonic(), protocol, reach)
        return protocol, reach

    def forget(self) -> None:
        self._cached.clear()
        self._reading.clear()
        self._generation += 1


@dataclass
class Intake:
    """Alerts are opened in their request while fewer than `limit` are being opened at once.

    Beyond that (a surge), an alert is accepted by publishing it to JetStream and answered at once
    with its case id and the guidance; the alert consumers open the cases, urgent ones first. A
    person is never told to try again later, and never waits behind a queue of requests.
    """

    limit: int
    opening: int = 0
    urgent: int = 0
    _no_urgent: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def surging(self) -> bool:
        return self.opening >= self.limit

    @contextlib.asynccontextmanager
    async def opening_one(self) -> AsyncIterator[None]:
        self.opening += 1
        try:
            yield
        finally:
            self.opening -= 1

    @contextlib.asynccontextmanager
    async def urgent_one(self) -> AsyncIterator[None]:
        self.urgent += 1
        self._no_urgent.clear()
        try:
            yield
        finally:
            self.urgent -= 1
            if not self.urgent:
                self._no_urgent.set()

    async def after_urgent(self) -> None:
        """Routine alerts wait while urgent ones are being opened, at most URGENT_FIRST: longer, and
        JetStream would deliver the waiting alert again (its ack wait), using up its deliveries."""
        if self.urgent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_urgent.wait(), URGENT_FIRST)


@dataclass(frozen=True)
class Taken:
    """What became of an alert: its case (None while it waits to be opened, in a surge), the id the
    answer gives, and whether a case was opened for it (False: it joined the person's open case)."""

    case: model.Case | None
    case_id: str
    created: bool


async def take_alert(
    db: Db,
    publisher: EventPublisher,
    directory: Directory,
    network: Network,
    intake: Intake,
    *,
    org: str,
    member_id: str,
    severity: Severity,
    channel: Channel,
    by: str,
    now: datetime,
) -> Taken:
    """Open the case in the request, or in a surge accept the alert for the alert consumers.

    Accepted is durable: JetStream acknowledged the alert under its own id. If JetStream does not
    answer, the case is opened here after all, under the same id, so an alert JetStream stored
    anyway finds it opened when it is consumed and changes nothing.
    """
    case_id = new_id()
    if intake.surging:
        data = CrisisAlertReceivedData(
            case_id=case_id, member_id=member_id, severity=severity, channel=channel, reported_by=by
        )
        kind = CrisisUrgentAlertReceived if model.is_urgent(severity) else CrisisAlertReceived
        try:
            await publisher.publish(kind.create(source=model.SOURCE, org=org, subject=case_id, data=data))
            return Taken(None, case_id, True)
        except PublishFailed:
            log.warning("an alert could not be queued in a surge; it is opened in its request")
    async with intake.opening_one():
        case, created = await raise_alert(
            db, publisher, directory, network, org=org, member_id=member_id, severity=severity,
            channel=channel, by=by, dedup_key=None, now=now, case_id=case_id,
        )  # fmt: skip
    return Taken(case, case.id, created)


async def resolve_case_id(db: Db, org: str, case_id: str) -> str:
    """The case an alert's id stands for: an alert accepted in a surge that joined the person's open
    case answered with an id that names no case (see `raise_alert`)."""
    alias = await store.case_aliases(db, org).find_one({"_id": case_id})
    return str(alias["case_id"]) if alias else case_id


async def raise_alert(
    db: Db,
    publisher: EventPublisher,
    directory: Directory,
    network: Network,
    *,
    org: str,
    member_id: str,
    severity: Severity,
    channel: Channel,
    by: str,
    dedup_key: str | None,
    now: datetime,
    case_id: str | None = None,
    received_at: datetime | None = None,
) -> tuple[model.Case, bool]:
    """Open a case, or merge into the person's open case; returns the case and whether it is new.

    With `case_id` (an alert accepted in a surge, see `take_alert`) the case opens under that id,
    and a second delivery of the same alert changes nothing.
    """
    key = dedup_key or member_id
    protocol, reach = await directory.lookup(db, network, org)
    case, events = model.raise_case(
        org=org,
        member_id=member_id,
        severity=severity,
        channel=channel,
        dedup_key=key,
        protocol=protocol,
        reach=reach,
        now=now,
        reported_by=by,
        case_id=case_id,
        received_at=received_at,
    )

    def merge(open_case: model.Case) -> list[Event]:
        return model.merge_alert(
            open_case, severity=severity, channel=channel, by=by, reach=reach, now=now, alert_id=case_id
        )

    for _ in range(MAX_RACES):
        try:
            if case.deadline:
                await store.schedule(db, org, case.id, case.deadline)
            # One write holds the case and its events: they cannot diverge.
            insert = functools.partial(
                store.cases(db, org).insert_one, {**with_outbox(store.case_to_doc(case), events), REV: 0}
            )
            await write_then_publish(db.cases, case.id, events, publisher, insert)
        except DuplicateKeyError:
            if case_id and (opened := await store.cases(db, org).find_one({"_id": case_id})):
                return store.doc_to_case(opened), False  # this alert, delivered again
            # The unique open key says this person has an open case: that case gets the alert,
            # unless it closed in the meantime, and then the insert is tried again.
            open_doc = await store.cases(db, org).find_one({store.OPEN_KEY: key})
            with contextlib.suppress(model.InvalidTransition):
                merged = await change_case(db, publisher, org, open_doc["_id"], merge) if open_doc else None
                if merged is not None:
                    if case_id:  # the answer named case_id: it now stands for the case it joined
                        with contextlib.suppress(DuplicateKeyError):
                            await store.case_aliases(db, org).insert_one(
                                {"_id": case_id, "case_id": merged.id}
                            )
                    return merged, False
            continue
        record_facts(case, events)
        return case, True
    raise RuntimeError(f"alert for {key} raced an open case {MAX_RACES} times in a row")


async def change_case(
    db: Db, publisher: EventPublisher, org: str, case_id: str, transition: Transition
) -> model.Case | None:
    """Apply one model transition to a case and save it with its events; None if there is no case.

    A write lost to a concurrent writer (shared.revisions) is retried on the fresh document, where
    the transition usually finds nothing left to do (the deadline already moved on, the case already
    acknowledged). Model exceptions (InvalidTransition) propagate with nothing written.
    """
    cases = store.cases(db, org)
    for _ in range(MAX_RACES):
        doc = await cases.find_one({"_id": case_id})
        if doc is None:
            return None
        case = store.doc_to_case(doc)
        before = store.case_to_doc(case)
        events = transition(case)
        after = store.case_to_doc(case)
        if after == before and not events:
            return case
        del after["_id"]
        stamp, pending = appended(events) if events else ({}, None)
        if case.deadline and case.deadline != doc.get("deadline"):
            await store.schedule(db, org, case.id, case.deadline)
        write = functools.partial(
            write_revision, db.cases, case_id, doc.get(REV, 0), {**after, **stamp}, pending
        )
        if await write_then_publish(db.cases, case_id, events, publisher, write):
            record_facts(case, events)
            return case
    raise RuntimeError(f"case {case_id} changed under us {MAX_RACES} times in a row")


def record_facts(case: model.Case, events: Sequence[Event]) -> None:
    """The dashboards' facts of a change to a case, in a span naming the case's organization (the
    request's names the caller's, which for a regional responder is another one). Called only by the
    writer whose write landed: a lost race or a repeated alert writes nothing, and so counts nothing."""
    if not events:
        return
    attributes = {ORG: case.org, CASE_ID: case.id}
    with background_tracer().start_as_current_span("crisis facts", attributes=attributes):
        for event in events:
            if isinstance(event, CrisisRaised):
                record_fact(FACT_CRISIS_OPENED, {CRISIS_LEVEL: case.level})
            elif isinstance(event, CrisisEscalated):
                catch_all = event.data.catch_all is not None
                record_fact(FACT_CRISIS_ESCALATED, {CRISIS_LEVEL: event.data.level, CATCH_ALL: catch_all})
            elif isinstance(event, CrisisAcknowledged) and _first_acknowledgement(case):
                # From when the person reached out (an alert opened late in a surge counts its wait too).
                waited = event.time - case.opened_at
                record_fact(FACT_CRISIS_ACKNOWLEDGED, {DURATION_MS: waited.total_seconds() * 1000})
            elif isinstance(event, CrisisFollowUpCompleted):
                record_fact(FACT_CRISIS_FOLLOW_UP_DONE, {ON_TIME: event.data.on_time})


def _first_acknowledgement(case: model.Case) -> bool:
    """Time to acknowledge is the case's first one: after an acknowledgement times out, the next
    one is not a new case answered."""
    return sum(line["what"] == "acknowledged" for line in case.timeline) == 1


async def schedule_open_cases(db: Db) -> None:
    """Give every open case's deadline its entry: cases saved before the deadlines collection existed."""
    query = {"deadline": {"$ne": None}, "state": {"$in": list(model.OPEN_STATES)}}
    async for doc in db.cases.find(query, {"deadline": 1, "org": 1}):
        await store.schedule(db, doc["org"], doc["_id"], doc["deadline"])


async def fire(
    db: Db,
    publisher: EventPublisher,
    directory: Directory,
    network: Network,
    org: str,
    case_id: str,
    now: datetime,
) -> None:
    """One deadline: the model decides whether anything is still due (another replica may have fired it)."""
    # No request or message names the organization here: this span does, for what the firing records.
    tracer = background_tracer()
    with tracer.start_as_current_span("escalation deadline", attributes={ORG: org, CASE_ID: case_id}):
        _, reach = await directory.lookup(db, network, org)
        await change_case(db, publisher, org, case_id, lambda case: model.on_deadline(case, reach, now))


async def run_timers(
    db: Db,
    publisher: EventPublisher,
    directory: Directory,
    network: Callable[[], Network],
    interval: float,
    clock: Clock = utcnow,
) -> None:
    """The escalation deadlines (store.schedule) fired by the shared scheduler: a restart loses none.

    The loop asks the small `deadlines` collection, not the cases: on FerretDB a range query scans
    its whole collection, and cases are large and never deleted.
    """

    async def fire_entry(entry: dict[str, Any]) -> None:
        # Fired, or found stale (the case moved on): either way the scheduler may drop the entry.
        await fire(db, publisher, directory, network(), entry["org"], entry["case_id"], clock())

    # Beside the loop, not before it: the backfill reads every case, and timers due right after a
    # restart must not wait for it (measured: 1.1 s of lateness once the service answered again).
    backfill = asyncio.create_task(_backfill(db, retry_seconds=interval))
    try:
        await scheduler.run(
            db.deadlines,
            fire_entry,
            interval=interval,
            clock=clock,
            concurrency=TIMER_CONCURRENCY,
            name="escalation deadline",
        )
    finally:
        backfill.cancel()


async def _backfill(db: Db, retry_seconds: float) -> None:
    """schedule_open_cases until it succeeds: a failure at start must not leave a case unscheduled."""
    while True:
        try:
            await schedule_open_cases(db)
            return
        except Exception:
            log.exception("scheduling the deadlines of open cases failed; trying again")
            await asyncio.sleep(retry_seconds)


async def _read_audited(db: Db, org: str, case_id: str, reader: str, now: datetime) -> dict[str, Any] | None:
    """Every read of a case leaves an audit entry: who, when, which case."""
    doc = await store.cases(db, org).find_one({"_id": case_id})
    if doc is not None:
        await store.audit(db, org).insert_one(
            {"case_id": case_id, "reader": reader, "at": now, "action": "read"}
        )
    return doc


async def read_case(db: Db, org: str, case_id: str, reader: str, now: datetime) -> model.Case | None:
    doc = await _read_audited(db, org, case_id, reader, now)
    return store.doc_to_case(doc) if doc else None


async def add_note(
    db: Db, sealer: Sealer, org: str, case_id: str, author: str, text: str, now: datetime
) -> bool:
    entry = {"at": now, "author": author, "sealed": sealer.seal(org, case_id, text)}
    updated = await store.cases(db, org).find_one_and_update(
        {"_id": case_id}, {"$push": {store.NOTES: entry}}
    )
    return updated is not None


async def read_notes(
    db: Db, sealer: Sealer, org: str, case_id: str, reader: str, now: datetime
) -> list[dict[str, Any]]:
    """The case's notes, decrypted; audited like any read of the case."""
    doc = await _read_audited(db, org, case_id, reader, now)
    return [
        {"at": n["at"], "author": n["author"], "text": sealer.open(org, case_id, n["sealed"])}
        for n in (doc or {}).get(store.NOTES, [])
    ]


async def save_staff(db: Db, org: str, responder_id: str, roles: list[str]) -> None:
    """Adds a person to the crisis staff, or changes their roles; a deactivated person is active again."""
    await store.staff(db, org).find_one_and_update(
        {"responder_id": responder_id},
        {"$set": {"responder_id": responder_id, "roles": roles, "active": True}},
        upsert=True,
    )


async def list_staff(db: Db, org: str) -> list[dict[str, Any]]:
    docs = await store.staff(db, org).find({}, sort=[("responder_id", 1)], limit=5000)
    return [_staff_public(d) for d in docs]


async def staff_member(db: Db, org: str, responder_id: str) -> dict[str, Any] | None:
    doc = await store.staff(db, org).find_one({"responder_id": responder_id})
    return _staff_public(doc) if doc else None


def _staff_public(doc: dict[str, Any]) -> dict[str, Any]:
    return {"responder_id": doc["responder_id"], "roles": doc["roles"], "active": doc.get("active", True)}


async def deactivate_staff(
    db: Db, publisher: EventPublisher, network: Network, org: str, responder_id: str, *, by: str
) -> bool | None:
    """Takes a person off the crisis staff (until added again): never targeted again, no cases to work,
    and notifications stops what it still holds for them. None: no such person; False: already
    inactive. Refuses (model.NobodyToReach) to take away the last person the catch-all reaches."""
    doc = await store.staff(db, org).find_one({"responder_id": responder_id})
    if doc is None:
        return None
    model.check_deactivation(await load_protocol(db, org), await load_reach(db, network, org), responder_id)
    data = CrisisResponderDeactivatedData(responder_id=responder_id, deactivated_by=by)
    events = [
        CrisisResponderDeactivated.create(source=model.SOURCE, org=org, subject=responder_id, data=data)
    ]
    stamp, push = appended(events)

    async def write() -> bool:
        changed = await db.staff.find_one_and_update(
            {"_id": doc["_id"], "active": {"$ne": False}},
            {"$set": {"active": False, **stamp}, "$push": {k: {"$each": v} for k, v in push.items()}},
        )
        return changed is not None

    return await write_then_publish(db.staff, doc["_id"], events, publisher, write)


async def list_rosters(
    db: Db, org: str, now: datetime
) -> list[tuple[model.Roster, str | None, tuple[datetime, str | None] | None]]:
    """Every roster with who is on call now, and when that changes to whom."""
    rosters = sorted((await load_rosters(db, org)).values(), key=lambda r: r.id)
    return [(r, r.on_call(now), r.next_change(now)) for r in rosters]


async def save_partner(db: Db, org: str, partner_id: str, name: str) -> None:
    await store.partners(db, org).find_one_and_update(
        {"partner_id": partner_id}, {"$set": {"partner_id": partner_id, "name": name}}, upsert=True
    )


async def list_partners(db: Db, org: str) -> list[dict[str, Any]]:
    docs = await store.partners(db, org).find({}, sort=[("name", 1)], limit=1000)
    return [{"partner_id": d["partner_id"], "name": d["name"]} for d in docs]


async def is_partner(db: Db, org: str, partner_id: str) -> bool:
    return await store.partners(db, org).find_one({"partner_id": partner_id}) is not None


async def read_safety_plan(
    db: Db, sealer: Sealer, org: str, case_id: str, reader: str, now: datetime
) -> dict[str, Any] | None:
    """The case's safety plan, decrypted (empty when none yet); audited like any read of the case.
    None: no such case."""
    doc = await _read_audited(db, org, case_id, reader, now)
    if doc is None:
        return None
    plan = doc.get("safety_plan")
    if not plan:
        return {"updated_at": None, "updated_by": None}
    return {
        **json.loads(sealer.open(org, case_id, plan["sealed"])),
        "updated_at": plan["updated_at"],
        "updated_by": plan["updated_by"],
    }


async def follow_ups(db: Db, caller: Principal) -> list[model.Case]:
    """The caring contacts the caller still owes, soonest due first: for a regional responder, those of
    the cases of their regions they resolved; a coordinator also sees those owed by people taken off
    the staff since, so none is left on nobody's list."""
    owed_by = [caller.sub]
    if caller.has_any(Role.COORDINATOR, Role.ORG_ADMIN):
        _, inactive = await _load_staff(db, caller.org)
        owed_by += sorted(inactive)
    where: list[dict[str, Any]] = []
    if caller.has_any(*STAFF_ROLES):
        where.append({"org": caller.org})
    if caller.has_any(Role.REGIONAL_RESPONDER) and caller.regions:
        where.append({"regional": True, "region": {"$in": sorted(caller.regions)}})
    if not where:
        return []
    query = {"$or": where, "state": "resolved", "follow_up_by": {"$in": owed_by}, "follow_up_done_at": None}
    docs = await db.cases.find(query, sort=[("follow_up_due", 1)], limit=500).to_list()
    return [store.doc_to_case(d) for d in docs]


async def save_roster(db: Db, org: str, roster: model.Roster) -> None:
    """Refuses (model.NobodyToReach) a roster naming people who are not on the crisis staff."""
    model.check_roster(roster, await load_staff(db, org))
    await store.rosters(db, org).find_one_and_update(
        {"roster_id": roster.id}, {"$set": store.roster_to_doc(roster)}, upsert=True
    )


async def save_protocol(db: Db, network: Network, org: str, protocol: model.Protocol) -> None:
    """Refuses (model.NobodyToReach) a protocol that could end with nobody."""
    model.check_protocol(protocol, await load_reach(db, network, org))
    await store.protocols(db, org).find_one_and_update(
        {}, {"$set": store.protocol_to_doc(protocol)}, upsert=True
    )


async def save_regional_team(
    db: Db, network: Network, region: str, responder_ids: list[str], *, changed_by: str
) -> None:
    """Refuses (model.NobodyToReach) anyone not a regional responder of the region; every change is
    a line in the team's audit trail."""
    orgs = [o.id for o in network.organizations if o.region == region]
    model.check_regional_team(responder_ids, set(await store.regional_responders(db, orgs, responder_ids)))
    await store.regional_team_changes(db).insert_one(
        {"region": region, "at": utcnow(), "changed_by": changed_by, "responder_ids": responder_ids}
    )
    await store.regional_teams(db).find_one_and_update(
        {"_id": region}, {"$set": {"responder_ids": responder_ids}}, upsert=True
    )


async def regional_team(db: Db, region: str) -> dict[str, Any]:
    team = await store.regional_teams(db).find_one({"_id": region})
    newest = store.regional_team_changes(db).find({"region": region}, sort=[("at", -1)], limit=100)
    return {
        "region": region,
        "responder_ids": team["responder_ids"] if team else [],
        "changes": await newest.to_list(),
    }
