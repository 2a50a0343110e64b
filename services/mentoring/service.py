"""Mentoring use cases: mentors' profiles, requests, proposals and matches.

Two documents change for one step of a match: the mentor's (their slots, with the step's event in
its outbox) and the member's (their request, proposal and match). Without transactions they are
kept in step this way:
- Proposing, the member is changed first: its proposal id is the lock that lets exactly one writer
  claim a mentor's slot for it (two replicas proposing for one member at once: one wins the member,
  the other stops). The proposal's expiry timer is scheduled before either write, so a crash at any
  point leaves a timer that settles the proposal.
- Answering (accept, decline, expiry, end), the mentor is changed first; its event, out of the
  outbox, then settles the member (`settle`), once inline and again by mentoring's own subscriber,
  which is what makes it durable. Settling is idempotent: it acts only while the member still points
  at that match.
"""

import asyncio
import datetime as dt
import functools
from collections.abc import Callable

from pymongo.errors import DuplicateKeyError

from contracts.ids import new_id
from contracts.mentoring import EndedBy, EndReason, MatchAccepted, MatchDeclined, MatchEnded, MatchExpired
from services.mentoring import model, store
from services.mentoring.settings import Settings
from services.mentoring.store import Db, Document, key
from shared import scheduler
from shared.http import NotFound
from shared.messaging.publisher import EventPublisher
from shared.outbox import appended, write_then_publish
from shared.revisions import REV, write_revision

MAX_RACES = 20
MAX_MENTORS = 5000  # an organization's mentors, ranked for each request
MatchEvent = MatchAccepted | MatchDeclined | MatchExpired | MatchEnded


class Busy(Exception):
    """Too many writers at once on one document; the caller may try again."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- documents, one revision at a time ----------------------------------------------------------


async def _change_slots(
    db: Db,
    publisher: EventPublisher,
    org: str,
    mentor_id: str,
    change: Callable[[model.Slots], model.Slots | None],
) -> model.Slots | None:
    """Apply `change` to the mentor's slots and publish its events; None if it changed nothing.
    NotFound for an unknown mentor; `change` may raise MatchConflict."""
    for _ in range(MAX_RACES):
        doc = await db.mentors.find_one({"_id": key(org, mentor_id)})
        if doc is None:
            raise NotFound("mentor")
        new = change(store.doc_to_slots(doc))
        if new is None:
            return None
        stamp, pending = appended(new.events)
        fields = {"held": store.held_to_doc(new.held), **stamp}
        write = functools.partial(write_revision, db.mentors, doc["_id"], doc.get(REV, 0), fields, pending)
        if await write_then_publish(db.mentors, doc["_id"], new.events, publisher, write):
            return new
    raise Busy("mentor")


async def _change_member(
    db: Db, org: str, member_id: str, change: Callable[[Document], Document | None]
) -> Document | None:
    """Set the fields `change` returns on the member's document (created on first use); None if it
    returned None (nothing to do)."""
    doc_id = key(org, member_id)
    for _ in range(MAX_RACES):
        doc = await db.members.find_one({"_id": doc_id})
        if doc is None:
            try:
                await db.members.insert_one(
                    {"_id": doc_id, "org": org, "member_id": member_id, "status": "idle", REV: 0}
                )
            except DuplicateKeyError:
                pass
            continue
        fields = change(doc)
        if fields is None:
            return None
        if await write_revision(db.members, doc_id, doc.get(REV, 0), fields):
            return {**doc, **fields}
    raise Busy("member")


# --- mentors ------------------------------------------------------------------------------------


async def save_mentor(db: Db, profile: model.MentorProfile) -> model.Slots:
    """Create or change a mentor's profile; the slots they hold stay as they are (a capacity below
    them only stops new proposals)."""
    doc_id = key(profile.org, profile.mentor_id)
    fields = store.profile_to_doc(profile)
    for _ in range(MAX_RACES):
        doc = await db.mentors.find_one({"_id": doc_id})
        if doc is None:
            try:
                await db.mentors.insert_one(
                    {
                        "_id": doc_id,
                        "org": profile.org,
                        "mentor_id": profile.mentor_id,
                        **fields,
                        "held": [],
                        REV: 0,
                    }
                )
            except DuplicateKeyError:
                continue
            return model.Slots(profile)
        # A revision, not a plain update: a slot being claimed on the old profile must not land.
        if await write_revision(db.mentors, doc_id, doc.get(REV, 0), fields):
            return store.doc_to_slots({**doc, **fields})
    raise Busy("mentor")


async def get_mentor(db: Db, org: str, mentor_id: str) -> model.Slots | None:
    doc = await db.mentors.find_one({"_id": key(org, mentor_id)})
    return store.doc_to_slots(doc) if doc else None


async def all_mentors(db: Db, org: str) -> list[model.Slots]:
    return [store.doc_to_slots(d) for d in await store.mentors(db, org).find({}, limit=MAX_MENTORS)]


# --- requests and proposals ---------------------------------------------------------------------


async def open_request(
    db: Db, publisher: EventPublisher, settings: Settings, request: model.Request, now: dt.datetime
) -> Document:
    """Put the member on the waiting list and propose the best candidate at once.

    MatchConflict when the member already has an open request or an active match."""

    def open_(m: Document) -> Document:
        if m["status"] in ("waiting", "proposed"):
            raise model.MatchConflict("you already have an open request")
        if m["status"] == "matched":
            raise model.MatchConflict("you already have an active match")
        return {
            "status": "waiting",
            "request": store.request_to_doc(request),
            "excluded": [],
            "proposal": None,
        }

    await _change_member(db, request.org, request.member_id, open_)
    return await propose_next(db, publisher, settings, request.org, request.member_id, now)


async def propose_next(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    member_id: str,
    now: dt.datetime,
    preferred: str | None = None,
) -> Document:
    """Propose the best candidate with a free slot (`preferred` first, the batch's choice) to a
    waiting member; the member stays waiting when nobody fits. Returns the member's document."""
    member = await get_member(db, org, member_id)
    if member is None or member["status"] != "waiting":
        return member or {}
    request = store.doc_to_request(member)
    candidates = [m for _, m in model.ranked((s.profile for s in await all_mentors(db, org)), request)]
    candidates.sort(key=lambda m: m.mentor_id != preferred)  # stable: the ranking is kept otherwise
    ttl = dt.timedelta(hours=settings.proposal_expires_after_hours)
    for mentor in candidates:
        outcome = await _propose_to(db, publisher, request, mentor.mentor_id, now, ttl)
        if outcome is not None:
            return outcome
    return await get_member(db, org, member_id) or {}


async def _propose_to(
    db: Db,
    publisher: EventPublisher,
    request: model.Request,
    mentor_id: str,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> Document | None:
    """Lock the member on a new proposal, then claim the mentor's slot for it. The member's document
    when done (proposed, or taken meanwhile by another writer); None when the slot could not be had."""
    org, member_id = request.org, request.member_id
    match_id, expires = new_id(), now + ttl
    timer = f"expire:{match_id}"
    await scheduler.schedule(
        store.timers(db), timer, expires, org=org, member_id=member_id, mentor_id=mentor_id, match_id=match_id
    )
    proposal = {"match_id": match_id, "mentor_id": mentor_id, "expires_at": expires}
    locked = await _change_member(
        db,
        org,
        member_id,
        lambda m: {"status": "proposed", "proposal": proposal} if m["status"] == "waiting" else None,
    )
    if locked is None:  # another writer proposed, or the request closed meanwhile
        await scheduler.cancel(store.timers(db), timer)
        return await get_member(db, org, member_id) or {}
    try:
        await _change_slots(
            db, publisher, org, mentor_id, lambda s: model.propose(s, request, match_id, now, ttl)
        )
    except (model.MatchConflict, NotFound):  # the slot went to someone else, or the mentor changed
        await _change_member(db, org, member_id, _release(match_id))
        await scheduler.cancel(store.timers(db), timer)
        return None
    return locked


def _release(match_id: str, exclude: str | None = None) -> Callable[[Document], Document | None]:
    """Back to waiting, if the member is still on this proposal; `exclude` is never proposed again."""

    def change(m: Document) -> Document | None:
        if m["status"] != "proposed" or (m.get("proposal") or {}).get("match_id") != match_id:
            return None
        excluded = sorted({*m.get("excluded", []), *([exclude] if exclude else [])})
        return {"status": "waiting", "proposal": None, "excluded": excluded}

    return change


async def get_member(db: Db, org: str, member_id: str) -> Document | None:
    return await db.members.find_one({"_id": key(org, member_id)})


async def request_of(db: Db, org: str, request_id: str) -> Document | None:
    """The member document whose current request has this id."""
    return await store.members(db, org).find_one({"request.id": request_id})


# --- answers ------------------------------------------------------------------------------------


async def accept(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    mentor_id: str,
    match_id: str,
    now: dt.datetime,
) -> model.Held:
    slots = await _change_slots(db, publisher, org, mentor_id, lambda s: model.accept(s, match_id, now))
    assert slots is not None
    await scheduler.cancel(store.timers(db), f"expire:{match_id}")
    await _settle_all(db, publisher, settings, slots, now)
    held = slots.find(match_id)
    assert held is not None
    return held


async def decline(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    mentor_id: str,
    match_id: str,
    now: dt.datetime,
) -> None:
    slots = await _change_slots(db, publisher, org, mentor_id, lambda s: model.decline(s, match_id))
    assert slots is not None
    await scheduler.cancel(store.timers(db), f"expire:{match_id}")
    await _settle_all(db, publisher, settings, slots, now)


async def end(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    pairing: model.Pairing,
    ended_by: EndedBy,
    reason: EndReason,
    back_to_waiting: bool,
    now: dt.datetime,
) -> None:
    change = functools.partial(model.end, match_id=pairing.match_id, ended_by=ended_by, reason=reason)
    slots = await _change_slots(
        db, publisher, org, pairing.mentor_id, lambda s: change(s, back_to_waiting=back_to_waiting)
    )
    assert slots is not None
    await _settle_all(db, publisher, settings, slots, now)


async def expire_due(
    db: Db, publisher: EventPublisher, settings: Settings, entry: Document, now: dt.datetime
) -> None:
    """A proposal's timer fired: free its slot if nobody answered, and move the member on."""
    org, match_id, member_id = entry["org"], entry["match_id"], entry["member_id"]
    try:
        slots = await _change_slots(
            db, publisher, org, entry["mentor_id"], lambda s: model.expire(s, match_id, now)
        )
    except NotFound:
        slots = None
    if slots is not None:
        await _settle_all(db, publisher, settings, slots, now)
        return
    mentor = await get_mentor(db, org, entry["mentor_id"])
    held = mentor.find(match_id) if mentor else None
    if held is not None and held.status == "proposed":
        raise RuntimeError("a proposal's timer fired before its expiry")  # left for the next round
    if held is None:
        # The mentor never got it (its writer died between locking the member and claiming the slot).
        if await _change_member(db, org, member_id, _release(match_id)):
            await propose_next(db, publisher, settings, org, member_id, now)


async def _settle_all(
    db: Db, publisher: EventPublisher, settings: Settings, slots: model.Slots, now: dt.datetime
) -> None:
    for event in slots.events:
        if isinstance(event, MatchAccepted | MatchDeclined | MatchExpired | MatchEnded):
            await settle(db, publisher, settings, event, now)


async def settle(
    db: Db, publisher: EventPublisher, settings: Settings, event: MatchEvent, now: dt.datetime
) -> None:
    """Bring the member in line with a step the mentor's document took; a repeat changes nothing."""
    d = event.data

    def on_proposal(m: Document) -> bool:
        return m["status"] == "proposed" and (m.get("proposal") or {}).get("match_id") == d.match_id

    if isinstance(event, MatchAccepted):
        match = {"match_id": d.match_id, "mentor_id": d.mentor_id, "since": event.time}
        await _change_member(
            db,
            event.org,
            d.member_id,
            lambda m: {"status": "matched", "proposal": None, "match": match} if on_proposal(m) else None,
        )
        return
    if isinstance(event, MatchDeclined | MatchExpired):
        await _change_member(db, event.org, d.member_id, _release(d.match_id, exclude=d.mentor_id))
    else:
        back = event.data.back_to_waiting

        def ended(m: Document) -> Document | None:
            if m["status"] != "matched" or (m.get("match") or {}).get("match_id") != d.match_id:
                return None
            if not back:
                return {"status": "idle", "match": None, "request": None}
            request = {**m["request"], "id": new_id(), "requested_at": now}
            return {
                "status": "waiting",
                "match": None,
                "request": request,
                "excluded": [d.mentor_id],
                "proposal": None,
            }

        await _change_member(db, event.org, d.member_id, ended)
    await propose_next(db, publisher, settings, event.org, d.member_id, now)
    await offer_free_slots(db, publisher, settings, event.org, d.mentor_id, now)


async def offer_free_slots(
    db: Db, publisher: EventPublisher, settings: Settings, org: str, mentor_id: str, now: dt.datetime
) -> None:
    """A mentor has room (a slot freed, a capacity raised, back from a pause): the members who have
    waited longest and whom the mentor fits are proposed to them."""
    for member in await waiting_list(db, org):
        slots = await get_mentor(db, org, mentor_id)
        if slots is None or slots.profile.free_slots <= 0:
            return
        if model.feasible(slots.profile, store.doc_to_request(member)):
            await propose_next(db, publisher, settings, org, member["member_id"], now, preferred=mentor_id)


async def run_timers(
    db: Db, publisher: EventPublisher, settings: Settings, clock: scheduler.Clock = utcnow
) -> None:
    """Expire proposals nobody answered, on time, across restarts (shared.scheduler)."""

    async def fire(entry: Document) -> None:
        await expire_due(db, publisher, settings, entry, clock())

    await scheduler.run(
        store.timers(db), fire, interval=settings.timer_interval_seconds, clock=clock, name="proposal expiry"
    )


# --- who is matched with whom -------------------------------------------------------------------


async def current_match(db: Db, org: str, member_id: str) -> model.Pairing | None:
    """The member's active match, if any."""
    m = await get_member(db, org, member_id)
    if m is None or m["status"] != "matched" or not m.get("match"):
        return None
    match = m["match"]
    return model.Pairing(match["match_id"], org, match["mentor_id"], member_id, match["since"])


async def mentees_of(db: Db, org: str, mentor_id: str) -> list[model.Pairing]:
    """A mentor's active matches."""
    slots = await get_mentor(db, org, mentor_id)
    if slots is None:
        return []
    return [model.pairing(slots.profile, h) for h in slots.held if h.status == "active"]


async def find_match(db: Db, org: str, match_id: str) -> tuple[model.MentorProfile, model.Held] | None:
    """A proposal or active match of the organization, with its mentor."""
    for doc in await store.mentors(db, org).find({"held.match_id": match_id}, limit=1):
        slots = store.doc_to_slots(doc)
        held = slots.find(match_id)
        if held is not None:
            return slots.profile, held
    return None


async def waiting_list(db: Db, org: str, limit: int = 10_000) -> list[Document]:
    """Members waiting for a proposal, the longest waiting first."""
    docs = await store.members(db, org).find({"status": "waiting"}, limit=limit)
    return sorted(docs, key=lambda m: (m["request"]["requested_at"], m["member_id"]))


async def rematch(
    db: Db, publisher: EventPublisher, settings: Settings, org: str, now: dt.datetime, plan: dict[str, str]
) -> list[Document]:
    """Propose each waiting member the mentor `plan` gives them (request id -> mentor id); a member
    whose planned slot went meanwhile gets the best one left."""
    waiting = {m["request"]["id"]: m["member_id"] for m in await waiting_list(db, org)}
    slots = asyncio.Semaphore(8)

    async def one(request_id: str, mentor_id: str) -> Document:
        async with slots:
            return await propose_next(
                db, publisher, settings, org, waiting[request_id], now, preferred=mentor_id
            )

    return await asyncio.gather(*(one(r, m) for r, m in plan.items() if r in waiting))
