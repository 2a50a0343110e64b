"""Attendance use cases: codes for facilitators, check-ins, marks, lists, a member's history, and the
durable disengagement checks."""

import datetime as dt
import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.errors import DuplicateKeyError
from starlette.exceptions import HTTPException

from contracts.meetings import AttendanceRecorded
from services.meetings import service as meetings
from services.meetings import store as meetings_store
from services.meetings.attendance import model, store
from services.meetings.attendance.model import Attended, CheckinRules, Method, Window
from services.meetings.model import Meeting
from services.meetings.recurrence import Occurrence
from services.meetings.service import utcnow
from services.meetings.settings import Settings
from services.meetings.store import Db
from shared import scheduler
from shared.http import NotFound, Problem
from shared.messaging.publisher import EventPublisher
from shared.network import Network
from shared.outbox import appended, with_outbox, write_then_publish
from shared.revisions import REV, write_revision
from shared.telemetry import FACT_MEETING_ATTENDED, MEETING_ID, record_fact

MAX_RACES = 20


def rules(settings: Settings) -> CheckinRules:
    return CheckinRules(
        secret=settings.checkin_secret,
        opens_before=timedelta(minutes=settings.checkin_opens_minutes),
        closes_after=timedelta(minutes=settings.checkin_closes_minutes),
    )


@dataclass(frozen=True)
class Organization:
    name: str
    today: dt.date  # in its own time zone: the week a streak counts in


def organization(network: Network, org: str, now: datetime) -> Organization:
    found = network.organization(org)
    if found is None:  # the caller's token was checked against the network a moment ago
        return Organization(org, now.astimezone(dt.UTC).date())
    return Organization(found.name, now.astimezone(ZoneInfo(found.time_zone)).date())


# Facilitators


def _occurrence(meeting: Meeting, date: dt.date) -> Occurrence:
    # One rule for every occurrence route of meetings: a date the meeting does not meet on is a 422.
    return meetings.occurrence(meeting, date)


def _not_cancelled(meeting: Meeting, occurrence: Occurrence) -> None:
    if meeting.cancelled or occurrence.cancelled:
        raise Problem(409, "Conflict", "the occurrence is cancelled: nobody can check in to it")


@dataclass(frozen=True)
class Code:
    meeting_id: str
    occurrence: Occurrence
    code: str
    window: Window
    open_now: bool


async def occurrence_code(
    db: Db, settings: Settings, org: str, meeting_id: str, date: dt.date, now: datetime
) -> Code:
    """The code a facilitator shows at an occurrence of their organization's meeting, and when it works."""
    meeting = await meetings.get_meeting(db, org, meeting_id)
    occurrence = _occurrence(meeting, date)
    _not_cancelled(meeting, occurrence)
    checkin = rules(settings)
    found = model.window(occurrence, checkin)
    assert found is not None  # not cancelled
    code = model.checkin_code(checkin.secret, meeting.id, date)
    return Code(meeting.id, occurrence, code, found, found.contains(now))


# Recording


class TooManyAttempts(HTTPException):
    """Too many wrong codes: a 429 whose Retry-After says when the next code may be tried."""

    def __init__(self, wait: timedelta) -> None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        super().__init__(
            429,
            f"too many wrong codes for this meeting: try again in {seconds} seconds",
            headers={"Retry-After": str(seconds)},
        )


@dataclass(frozen=True)
class Recorded:
    attended: Attended
    member_id: str
    created: bool  # False: it was recorded before, and nothing was recorded or announced again


async def check_in(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    member_id: str,
    meeting_id: str,
    code: str,
    now: datetime,
) -> Recorded:
    """A member checks in to the open occurrence of any meeting of the network with its code; the record
    is kept in the member's own organization."""
    doc = await meetings_store.meeting_doc(db, meeting_id)
    if doc is None:
        raise NotFound("meeting")
    meeting = meetings_store.from_doc(doc)
    checkin = rules(settings)
    occurrence = model.open_occurrence(meeting, now, checkin)
    if occurrence is None:
        raise Problem(
            409,
            "Conflict",
            "check-in is not open for this meeting now: it opens shortly before an occurrence starts "
            "and closes shortly after it ends",
        )
    key = model.record_key(org, member_id, meeting.id, occurrence.date)
    slot = await store.claim_attempt(db, key, now)
    if not isinstance(slot, str):
        raise TooManyAttempts(model.retry_after(slot, now))
    if not model.code_matches(model.checkin_code(checkin.secret, meeting.id, occurrence.date), code):
        # The slot stays taken until the failure is old; then a scheduled entry deletes it.
        expires = now + model.FAILURE_WINDOW
        await scheduler.schedule(store.checks(db), f"{slot}@{expires.isoformat()}", expires, failures=key)
        other = model.occurrence_of_code(meeting, code, now, checkin)
        detail = (
            f"this code was for the occurrence of {other.date.isoformat()}: ask for today's code"
            if other
            else "the code does not match this meeting's current code"
        )
        raise Problem(422, "Unprocessable Content", detail)
    await store.forget_failures(db, key)  # the right code: earlier mistakes no longer count
    return await record(db, publisher, settings, org, member_id, meeting, occurrence, "code", now)


async def mark(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    meeting_id: str,
    date: dt.date,
    member_id: str,
    now: datetime,
) -> Recorded:
    """A facilitator records that a member of their organization attended an occurrence (a paper
    sign-in sheet, a member without a phone): any occurrence whose check-in has opened."""
    meeting = await meetings.get_meeting(db, org, meeting_id)
    occurrence = _occurrence(meeting, date)
    _not_cancelled(meeting, occurrence)
    found = model.window(occurrence, rules(settings))
    if found is None or now < found.opens:
        raise Problem(409, "Conflict", "the occurrence has not started yet")
    return await record(db, publisher, settings, org, member_id, meeting, occurrence, "facilitator", now)


async def record(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    member_org: str,
    member_id: str,
    meeting: Meeting,
    occurrence: Occurrence,
    method: Method,
    now: datetime,
) -> Recorded:
    """One record per member and occurrence, by a unique insert that carries its event; a second check-in
    (a retry, a second tap, the facilitator too) finds it and changes nothing."""
    a = model.attended(meeting, occurrence, method, now)
    key = model.record_key(member_org, member_id, meeting.id, occurrence.date)
    event = model.recorded_event(member_org, member_id, a)
    doc = with_outbox(store.record_doc(key, member_org, member_id, a), [event])
    insert = functools.partial(store.records(db).insert_one, doc)
    created = True
    try:
        await write_then_publish(store.records(db), key, [event], publisher, insert)
    except DuplicateKeyError:
        created = False  # the record, or its writer's intent (the same event id), is there already
    if created:
        record_fact(FACT_MEETING_ATTENDED, {MEETING_ID: meeting.id})  # a count: never who
    stored = await store.record(db, key)
    if stored is None:
        raise Problem(409, "Conflict", "this attendance is being recorded right now: try again in a moment")
    kept = store.from_entry(stored)
    # Also on a repeat: a writer that died after the insert left the history and the check to it.
    await remember(db, settings, member_org, member_id, kept)
    return Recorded(kept, member_id, created)


async def remember(db: Db, settings: Settings, org: str, member_id: str, a: Attended) -> None:
    """Add the attendance to the member's history and move their disengagement check after it."""
    weeks = settings.disengaged_after_weeks
    for _ in range(MAX_RACES):
        doc = await store.member_or_new(db, org, member_id)
        history = store.history(doc)
        if any(h.meeting_id == a.meeting_id and h.occurrence == a.occurrence for h in history):
            await _schedule_check(db, org, member_id, model.next_check(history, weeks))
            return
        after = [*history, a]
        check_at = model.next_check(after, weeks)
        # The new check first: a crash before the history write leaves a check too many, never too few.
        entry = await _schedule_check(db, org, member_id, check_at)
        fields = {"check": entry}
        if await write_revision(
            store.members(db), doc["_id"], doc[REV], fields, {"attended": [store.entry_doc(a)]}
        ):
            if doc.get("check") and doc["check"] != entry:
                await scheduler.cancel(store.checks(db), doc["check"])
            return
    raise RuntimeError(f"the attendance of member document {org} changed under us {MAX_RACES} times")


async def catch_up(db: Db, settings: Settings, event: AttendanceRecorded) -> None:
    """An attendance was recorded: make sure the member's history has it and their check follows it.

    The record and its event are one write; the history is a second one, made by `record` right
    after. A writer that dies between the two leaves the history without it, and this, run for the
    event (services.meetings.subscribers), adds it. `remember` is idempotent: usually it is there.
    """
    d = event.data
    stored = await store.record(db, model.record_key(event.org, d.member_id, d.meeting_id, d.occurrence))
    if stored is None:
        return  # the event is published only once its record is written: it has been deleted since
    await remember(db, settings, event.org, d.member_id, store.from_entry(stored))


async def _schedule_check(db: Db, org: str, member_id: str, at: datetime | None) -> str | None:
    if at is None:
        return None
    entry = store.check_id(org, member_id, at)
    await scheduler.schedule(store.checks(db), entry, at, org=org, member_id=member_id)
    return entry


# Reading


@dataclass(frozen=True)
class Roll:
    meeting_id: str
    occurrence: dt.date
    members: list[dict[str, Any]]  # the caller's organization's members: id, method, when
    others: int  # members of other organizations: only how many


async def occurrence_attendance(db: Db, org: str, meeting_id: str, date: dt.date) -> Roll:
    meeting = await meetings.get_meeting(db, org, meeting_id)
    _occurrence(meeting, date)
    own = await store.occurrence_records(db, org, meeting_id, date)
    members = [
        {"member_id": d["member_id"], "method": d["method"], "recorded_at": store.from_entry(d).recorded_at}
        for d in own
    ]
    return Roll(meeting_id, date, members, await store.others_count(db, org, meeting_id, date))


@dataclass(frozen=True)
class History:
    member_id: str
    org: str
    attended: list[Attended]
    summary: model.Summary


async def member_history(db: Db, org: str, member_id: str, today: dt.date) -> History:
    attended = model.in_order(store.history(await store.member(db, org, member_id)))
    return History(member_id, org, attended, model.summary(attended, today))


# Disengagement


async def check_engagement(
    db: Db, publisher: EventPublisher, settings: Settings, org: str, member_id: str, now: datetime
) -> None:
    """A scheduled check fired: announce the member's lapse once, or check again when one could begin.

    Idempotent (the scheduler may fire an entry twice): it reads the history as it is now, an
    announced lapse is recorded on the document with its event, and the event's id is the lapse's.
    """
    weeks = settings.disengaged_after_weeks
    for _ in range(MAX_RACES):
        doc = await store.member(db, org, member_id)
        if doc is None:
            return
        history = store.history(doc)
        usual = await _usual_meetings(db, history)
        lapse = model.disengagement(history, now, weeks, usual)
        if lapse is None:
            last = model.last_usual(history)
            excused = model.excused_weeks(last, now, usual) if last else 0
            await _schedule_check(db, org, member_id, model.next_check(history, weeks, excused))
            return
        if doc.get("announced") == lapse.key:
            return
        events = [model.disengaged_event(org, member_id, lapse, weeks)]
        stamp, pending = appended(events)
        write = functools.partial(
            write_revision,
            store.members(db),
            doc["_id"],
            doc[REV],
            {"announced": lapse.key, **stamp},
            pending,
        )
        try:
            if await write_then_publish(store.members(db), doc["_id"], events, publisher, write):
                return
        except DuplicateKeyError:
            return  # another replica holds this very announcement's intent: it publishes it
    raise RuntimeError(f"a member document of {org} changed under us {MAX_RACES} times")


async def _usual_meetings(db: Db, history: list[Attended]) -> model.UsualMeetings:
    """The member's usual meetings as they are now (of any organization): which weeks they met."""
    found: dict[str, Meeting | None] = {}
    for meeting_id in model.usual_meetings(history):
        doc = await meetings_store.meeting_doc(db, meeting_id)
        found[meeting_id] = meetings_store.from_doc(doc) if doc else None
    return found


async def run_timers(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    clock: scheduler.Clock = utcnow,
) -> None:
    """The durable scheduled jobs of attendance, on the shared scheduler, so a restart loses none: each
    member's disengagement check, and forgetting wrong codes once they no longer count."""

    async def fire(entry: dict[str, Any]) -> None:
        if "failures" in entry:
            await store.forget_failures(db, entry["failures"], clock())
            return
        await check_engagement(db, publisher, settings, entry["org"], entry["member_id"], clock())

    await scheduler.run(
        store.checks(db),
        fire,
        interval=settings.scheduler_interval_seconds,
        clock=clock,
        name="disengagement check",
    )
