"""Mentoring use cases: mentors' profiles, requests, proposals and matches.

Two documents change for one step of a match: the mentor's (their slots, with the step's event in
its outbox) and the member's (their request, proposal and match). Without transactions they are
kept in step this way:
- Proposing, the member is changed first: its proposal id is the lock that lets exactly one writer
  claim a mentor's slot for it (two replicas proposing for one member at once: one wins the member,
  the other stops). The proposal's expiry timer is scheduled before either write, so a crash at any
  point leaves a timer that settles the proposal.
- Answering (accept, decline, expiry, withdrawal, end), the mentor is changed first; its event, out
  of the outbox, then settles the member (`settle`), once inline and again by mentoring's own
  subscriber, which is what makes it durable. Settling reads what the mentor holds now rather than
  trusting the event (events of one match may arrive in any order), and acts only while the member
  still points at that match: a repeat changes nothing.

Ranking reads the organization's mentors from a `Roster` (roster.py); the use cases take one as
`roster`, and without one they read the store every time.
"""

import asyncio
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

from pymongo.errors import DuplicateKeyError

from contracts.ids import new_id
from contracts.mentoring import (
    EndedBy,
    EndReason,
    MatchAccepted,
    MatchDeclined,
    MatchEnded,
    MatchExpired,
    MatchWithdrawn,
)
from services.mentoring import model, store
from services.mentoring.roster import Roster, uncached
from services.mentoring.settings import Settings
from services.mentoring.store import Db, Document, key
from shared import scheduler
from shared.http import NotFound
from shared.messaging.publisher import EventPublisher
from shared.outbox import OUTBOX, appended, write_then_publish
from shared.revisions import RACES, REV, Busy, write_revision
from shared.telemetry import DURATION_MS, FACT_MENTORING_MATCHED, FACT_MENTORING_REQUESTED, record_fact

# A mentor's document is read without its outbox (what it published is of no use to a decision).
WITHOUT_OUTBOX = {OUTBOX: 0}
# A proposal's writer that locked the member has claimed the mentor's slot by then, or died.
CLAIM_CHECK_AFTER = dt.timedelta(minutes=2)
MatchEvent = MatchAccepted | MatchDeclined | MatchExpired | MatchWithdrawn | MatchEnded


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- documents, one revision at a time ----------------------------------------------------------


async def _change_slots(
    db: Db,
    publisher: EventPublisher,
    org: str,
    mentor_id: str,
    change: Callable[[model.Slots], model.Slots | None],
    roster: Roster | None = None,
) -> model.Slots | None:
    """Apply `change` to the mentor's slots and publish its events; None if it changed nothing.
    NotFound for an unknown mentor; `change` may raise MatchConflict."""
    for _ in range(RACES):
        doc = await db.mentors.find_one({"_id": key(org, mentor_id)}, WITHOUT_OUTBOX)
        if doc is None:
            raise NotFound("mentor")
        new = change(store.doc_to_slots(doc))
        if new is None:
            return None
        stamp, pending = appended(new.events)
        fields = {"held": store.held_to_doc(new.held), **stamp}

        write = functools.partial(write_revision, db.mentors, doc["_id"], doc.get(REV, 0), fields, pending)
        if await write_then_publish(db.mentors, doc["_id"], new.events, publisher, write):
            if roster is not None:
                roster.remember(new)
            return new
    raise Busy("mentor")


async def _change_member(
    db: Db,
    org: str,
    member_id: str,
    change: Callable[[Document], Document | None],
    known: Document | None = None,
) -> Document | None:
    """Set the fields `change` returns on the member's document, created with them on first use;
    None if it returned None (nothing to do). `known`, the document as just written, saves a read
    (a stale one only loses its revision: the document is read again)."""
    doc_id = key(org, member_id)
    doc = known
    for _ in range(RACES):
        if doc is None:
            doc = await db.members.find_one({"_id": doc_id})
        if doc is None:
            new = {"_id": doc_id, "org": org, "member_id": member_id, "status": "idle", REV: 0}
            fields = change(new)
            if fields is None:
                return None
            try:
                await db.members.insert_one({**new, **fields})
            except DuplicateKeyError:
                continue
            return {**new, **fields}
        fields = change(doc)
        if fields is None:
            return None
        if await write_revision(db.members, doc_id, doc.get(REV, 0), fields):
            return {**doc, **fields, REV: doc.get(REV, 0) + 1}
        doc = None
    raise Busy("member")


# --- mentors ------------------------------------------------------------------------------------


async def save_mentor(
    db: Db, profile: model.MentorProfile, roster: Roster | None = None, *, by_mentor: bool = False
) -> model.Slots:
    """Create or change a mentor's profile; the slots they hold stay as they are (a capacity below
    them only stops new proposals). `by_mentor`: the mentor changes their own, within what
    model.own_change_refused allows of the profile as it is now (model.NotAllowed otherwise)."""
    doc_id = key(profile.org, profile.mentor_id)
    fields = store.profile_to_doc(profile)
    for _ in range(RACES):
        doc = await db.mentors.find_one({"_id": doc_id}, WITHOUT_OUTBOX)
        if by_mentor and (
            refused := model.own_change_refused(store.doc_to_slots(doc).profile if doc else None, profile)
        ):
            raise model.NotAllowed(refused)
        if doc is None:
            new = {
                "_id": doc_id,
                "org": profile.org,
                "mentor_id": profile.mentor_id,
                **fields,
                "held": [],
                REV: 0,
            }
            try:
                await db.mentors.insert_one(new)
            except DuplicateKeyError:
                continue
            slots = model.Slots(profile)
        # A revision, not a plain update: a slot being claimed on the old profile must not land.
        elif await write_revision(db.mentors, doc_id, doc.get(REV, 0), fields):
            slots = store.doc_to_slots({**doc, **fields})
        else:
            continue
        if roster is not None:
            roster.remember(slots)
        return slots
    raise Busy("mentor")


async def get_mentor(db: Db, org: str, mentor_id: str) -> model.Slots | None:
    doc = await db.mentors.find_one({"_id": key(org, mentor_id)}, WITHOUT_OUTBOX)
    return store.doc_to_slots(doc) if doc else None


async def all_mentors(db: Db, org: str, roster: Roster | None = None) -> list[model.Slots]:
    """Every mentor of the organization: as the roster has them, or as stored now without one."""
    return await (roster or uncached()).mentors(db, org)


# --- requests and proposals ---------------------------------------------------------------------


async def open_request(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    request: model.Request,
    now: dt.datetime,
    *,
    roster: Roster | None = None,
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

    member = await _change_member(db, request.org, request.member_id, open_)
    record_fact(FACT_MENTORING_REQUESTED)  # refused above (MatchConflict) when it was open already
    return await propose_next(
        db, publisher, settings, request.org, request.member_id, now, roster=roster, member=member
    )


async def propose_next(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    member_id: str,
    now: dt.datetime,
    preferred: str | None = None,
    *,
    roster: Roster | None = None,
    member: Document | None = None,
) -> Document:
    """Propose the best candidate with a free slot (`preferred` first, the batch's choice) to a
    waiting member; the member stays waiting when nobody fits. Returns the member's document
    (`member`, when given, is it as just written)."""
    member = member or await get_member(db, org, member_id)
    if member is None or member["status"] != "waiting":
        return member or {}
    request = store.doc_to_request(member)
    candidates = [
        m for _, m in model.ranked((s.profile for s in await all_mentors(db, org, roster)), request)
    ]
    candidates.sort(key=lambda m: m.mentor_id != preferred)  # stable: the ranking is kept otherwise
    ttl = dt.timedelta(hours=settings.proposal_expires_after_hours)
    for mentor in candidates:
        outcome = await _propose_to(db, publisher, request, mentor, now, ttl, member, roster)
        if outcome is not None:
            return outcome
        member = None
    return await get_member(db, org, member_id) or {}


async def _propose_to(
    db: Db,
    publisher: EventPublisher,
    request: model.Request,
    mentor: model.MentorProfile,
    now: dt.datetime,
    ttl: dt.timedelta,
    member: Document | None,
    roster: Roster | None,
) -> Document | None:
    """Lock the member on a new proposal, then claim the mentor's slot for it. The member's document
    when done (proposed, or taken meanwhile by another writer); None when the slot could not be had."""
    org, member_id, mentor_id = request.org, request.member_id, mentor.mentor_id
    match_id, expires = new_id(), now + ttl
    timer, check = f"expire:{match_id}", f"claim:{match_id}"
    fields = {"org": org, "member_id": member_id, "mentor_id": mentor_id, "match_id": match_id}
    await scheduler.schedule(store.timers(db), timer, expires, **fields)
    # If this writer dies between locking the member and claiming the slot, the member would wait for
    # the proposal's expiry (days): this check, cancelled once the claim is known, frees them sooner.
    await scheduler.schedule(store.timers(db), check, now + CLAIM_CHECK_AFTER, kind="claim", **fields)
    # Why this mentor, as the ranking saw them: kept with the proposal, so it is what a coordinator
    # reads later whatever the mentor's profile or load becomes.
    proposal = {
        "match_id": match_id,
        "mentor_id": mentor_id,
        "expires_at": expires,
        "explanation": store.explanation_to_doc(model.explain(mentor, request)),
    }

    def lock(m: Document) -> Document | None:
        # Still waiting on this very request (not withdrawn and asked again), and the mentor not one
        # who declined it meanwhile: `request` may come from an older read (a batch's).
        still = (m.get("request") or {}).get("id") == request.id and mentor_id not in m.get("excluded", [])
        return {"status": "proposed", "proposal": proposal} if m["status"] == "waiting" and still else None

    locked = await _change_member(db, org, member_id, lock, known=member)
    if locked is None:  # another writer proposed, or the request changed meanwhile
        for entry in (timer, check):
            await scheduler.cancel(store.timers(db), entry)
        return await get_member(db, org, member_id) or {}
    try:
        await _change_slots(
            db, publisher, org, mentor_id, lambda s: model.propose(s, request, match_id, now, ttl), roster
        )
    except (model.MatchConflict, NotFound):  # the slot went to someone else, or the mentor changed
        await _change_member(db, org, member_id, _release(match_id), known=locked)
        for entry in (timer, check):
            await scheduler.cancel(store.timers(db), entry)
        return None
    except BaseException:
        # Not claimed, or not known to be: the member goes back to waiting now rather than at the
        # proposal's expiry. A claim that did land meanwhile is expired by its timer as usual, and an
        # acceptance of it is refused (`accept`), since the member no longer points at it.
        await asyncio.shield(_change_member(db, org, member_id, _release(match_id)))
        raise
    await scheduler.cancel(store.timers(db), check)
    return locked


def _release(match_id: str, exclude: str | None = None) -> Callable[[Document], Document | None]:
    """Back to waiting, if the member is still on this proposal; `exclude` is never proposed again."""

    def change(m: Document) -> Document | None:
        if m["status"] != "proposed" or (m.get("proposal") or {}).get("match_id") != match_id:
            return None
        excluded = sorted({*m.get("excluded", []), *([exclude] if exclude else [])})
        return {"status": "waiting", "proposal": None, "excluded": excluded}

    return change


async def withdraw(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    member_id: str,
    now: dt.datetime,
    *,
    roster: Roster | None = None,
) -> None:
    """The member closes their open request; a proposal waiting for its mentor is withdrawn and
    frees the slot. MatchConflict when there is no open request, or its mentor has just accepted."""
    for _ in range(RACES):  # the member's state may move on between the read and the write
        member = await get_member(db, org, member_id) or {}
        if member.get("status") == "proposed":
            proposal = member["proposal"]
            try:
                await withdraw_stale(
                    db, publisher, settings, org, proposal["mentor_id"], proposal["match_id"], now, roster
                )
            except model.MatchConflict:
                if (await get_member(db, org, member_id) or {}).get("proposal") == proposal:
                    raise model.MatchConflict("your mentor has just answered this proposal") from None
                continue
            return
        if member.get("status") != "waiting":
            raise model.MatchConflict("you have no open request")
        if await _change_member(
            db,
            org,
            member_id,
            lambda m: {"status": "idle", "request": None} if m["status"] == "waiting" else None,
        ):
            return
    raise Busy("member")


async def withdraw_stale(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    mentor_id: str,
    match_id: str,
    now: dt.datetime,
    roster: Roster | None,
) -> None:
    """Free the slot of a proposal the member no longer wants (or no longer points at)."""
    await _answer(db, publisher, settings, org, mentor_id, match_id, model.withdraw, now, roster)


async def _answer(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    mentor_id: str,
    match_id: str,
    step: Callable[[model.Slots, str, dt.datetime], model.Slots],
    now: dt.datetime,
    roster: Roster | None,
    answered: Callable[[], None] = lambda: None,
) -> model.Slots:
    """A proposal answered (accepted, declined, withdrawn): the mentor's document takes the step
    (`answered` is called once it did), the proposal's expiry is no longer needed, and the member is
    settled."""
    slots = await _change_slots(db, publisher, org, mentor_id, lambda s: step(s, match_id, now), roster)
    assert slots is not None  # each of these steps changes the slots or raises MatchConflict
    answered()
    await scheduler.cancel(store.timers(db), f"expire:{match_id}")
    await _settle_all(db, publisher, settings, slots, now, roster)
    return slots


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
    *,
    roster: Roster | None = None,
) -> model.Held:
    mentor = await get_mentor(db, org, mentor_id)
    held = mentor.find(match_id) if mentor else None
    member = await get_member(db, org, held.member_id) if held else None
    if held is not None and held.status == "proposed" and not (member and _on(member, "proposal", match_id)):
        # Its writer released the member after a failure, and they have moved on: the slot is freed.
        await withdraw_stale(db, publisher, settings, org, mentor_id, match_id, now, roster)
        raise model.MatchConflict("this member is no longer waiting for this proposal")
    asked = ((member or {}).get("request") or {}).get("requested_at")

    def matched() -> None:
        # Only for the one writer whose acceptance landed (any other is refused: MatchConflict), and
        # the member is then on this very proposal (checked above): `asked` is when they asked.
        if asked is not None:
            record_fact(FACT_MENTORING_MATCHED, {DURATION_MS: (now - asked).total_seconds() * 1000})

    slots = await _answer(
        db, publisher, settings, org, mentor_id, match_id, model.accept, now, roster, answered=matched
    )
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
    *,
    roster: Roster | None = None,
) -> None:
    await _answer(db, publisher, settings, org, mentor_id, match_id, model.decline, now, roster)


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
    *,
    roster: Roster | None = None,
) -> None:
    def end_(s: model.Slots) -> model.Slots:
        return model.end(s, pairing.match_id, ended_by, reason, back_to_waiting, now)

    slots = await _change_slots(db, publisher, org, pairing.mentor_id, end_, roster)
    await _settle_all(db, publisher, settings, slots, now, roster)


async def expire_due(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    entry: Document,
    now: dt.datetime,
    *,
    roster: Roster | None = None,
) -> None:
    """A proposal's timer fired: free its slot if nobody answered, and move the member on. A claim
    check (`kind: claim`) only frees a member whose proposal never reached the mentor."""
    org, match_id, member_id, mentor_id = (
        entry["org"],
        entry["match_id"],
        entry["member_id"],
        entry["mentor_id"],
    )
    if entry.get("kind") == "claim":
        mentor = await get_mentor(db, org, mentor_id)
        if mentor is None or mentor.find(match_id) is None:
            await _change_member(db, org, member_id, _release(match_id))
            await propose_next(db, publisher, settings, org, member_id, now, roster=roster)
        return
    try:
        slots = await _change_slots(
            db, publisher, org, mentor_id, lambda s: model.expire(s, match_id, now), roster
        )
    except NotFound:
        slots = None
    if slots is not None:
        await _settle_all(db, publisher, settings, slots, now, roster)
        return
    mentor = await get_mentor(db, org, mentor_id)
    held = mentor.find(match_id) if mentor else None
    if held is not None and held.status == "proposed":
        raise RuntimeError("a proposal's timer fired before its expiry")  # left for the next round
    if held is None:
        # Expired or declined by a writer that died before settling the member, or never claimed
        # (its writer died between locking the member and claiming the slot): either way the member
        # moves on now, and never back to this mentor for this request (at worst one candidate lost).
        await _change_member(db, org, member_id, _release(match_id, exclude=mentor_id))
        await propose_next(db, publisher, settings, org, member_id, now, roster=roster)


async def _settle_all(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    slots: model.Slots | None,
    now: dt.datetime,
    roster: Roster | None,
) -> None:
    for event in slots.events if slots else []:
        if isinstance(event, MatchEvent):
            await settle(db, publisher, settings, event, now, roster=roster)


async def settle(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    event: MatchEvent,
    now: dt.datetime,
    *,
    roster: Roster | None = None,
) -> None:
    """Bring the member in line with what the mentor holds now for the event's match."""
    d, org = event.data, event.org
    mentor = await get_mentor(db, org, d.mentor_id)
    held = mentor.find(d.match_id) if mentor else None
    if held is not None and held.status == "proposed":
        return  # not answered yet: this event is older than the mentor's document
    if held is not None:  # active
        match = {"match_id": d.match_id, "mentor_id": d.mentor_id, "since": held.since}
        member = await _change_member(
            db,
            org,
            d.member_id,
            lambda m: (
                {"status": "matched", "proposal": None, "match": match}
                if _on(m, "proposal", d.match_id)
                else None
            ),
        )
        current = member or await get_member(db, org, d.member_id) or {}
        if not (_on(current, "match", d.match_id) or _on(current, "proposal", d.match_id)):
            # Accepted just as the member moved on (another proposal, a withdrawal): the mentor must
            # not keep a mentee who is not theirs. The match ends, and the slot is free.
            end_ = functools.partial(model.end, ended_by="member", reason="member_unavailable")
            slots = await _change_slots(
                db,
                publisher,
                org,
                d.mentor_id,
                lambda s: end_(s, d.match_id, back_to_waiting=False, now=now),
                roster,
            )
            await _settle_all(db, publisher, settings, slots, now, roster)
        return
    # The mentor no longer holds it: declined, expired, withdrawn or ended.
    back = not isinstance(event, MatchEnded) or event.data.back_to_waiting

    def gone(m: Document) -> Document | None:
        # A withdrawal, or an end the member did not want to be matched again after (its acceptance
        # had not reached them yet): the request closes.
        if (isinstance(event, MatchWithdrawn) or not back) and _on(m, "proposal", d.match_id):
            return {"status": "idle", "proposal": None, "request": None}
        if _on(m, "proposal", d.match_id):
            return _release(d.match_id, exclude=d.mentor_id)(m)
        if not _on(m, "match", d.match_id):
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

    await _change_member(db, org, d.member_id, gone)
    await propose_next(db, publisher, settings, org, d.member_id, now, roster=roster)
    await offer_free_slots(db, publisher, settings, org, d.mentor_id, now, roster=roster)


def _on(member: Document, field: str, match_id: str) -> bool:
    """The member's current proposal (or match) is this one."""
    wanted = "proposed" if field == "proposal" else "matched"
    return member["status"] == wanted and (member.get(field) or {}).get("match_id") == match_id


async def offer_free_slots(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    org: str,
    mentor_id: str,
    now: dt.datetime,
    *,
    roster: Roster | None = None,
) -> None:
    """A mentor has room (a slot freed, a capacity raised, back from a pause): the members who have
    waited longest and whom the mentor fits are proposed to them."""
    slots = await get_mentor(db, org, mentor_id)
    for member in await waiting_list(db, org):
        if slots is None or slots.profile.free_slots <= 0:
            return
        if model.feasible(slots.profile, store.doc_to_request(member)):
            await propose_next(
                db, publisher, settings, org, member["member_id"], now, preferred=mentor_id, roster=roster
            )
            slots = await get_mentor(db, org, mentor_id)


async def run_timers(
    db: Db,
    publisher: EventPublisher,
    settings: Settings,
    roster: Roster | None = None,
    clock: scheduler.Clock = utcnow,
) -> None:
    """Expire proposals nobody answered, on time, across restarts (shared.scheduler)."""

    async def fire(entry: Document) -> None:
        await expire_due(db, publisher, settings, entry, clock(), roster=roster)

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
    for doc in await store.mentors(db, org).find(
        {"held.match_id": match_id}, limit=1, projection=WITHOUT_OUTBOX
    ):
        slots = store.doc_to_slots(doc)
        held = slots.find(match_id)
        if held is not None:
            return slots.profile, held
    return None


async def waiting_list(db: Db, org: str, limit: int = 10_000) -> list[Document]:
    """Members waiting for a proposal, the longest waiting first."""
    return await store.members(db, org).find(
        {"status": "waiting"}, sort=[("request.requested_at", 1), ("member_id", 1)], limit=limit
    )


@dataclass(frozen=True)
class Rematched:
    waiting: int
    proposed: int
    still_waiting: int
    planned_score: int  # the optimal assignment's total score


async def rematch(
    db: Db, publisher: EventPublisher, settings: Settings, org: str, now: dt.datetime
) -> Rematched:
    """Match the whole waiting list in one globally optimal assignment (assignment.py), then propose
    each member their planned mentor; a member whose planned slot went meanwhile gets the best left."""
    waiting = await waiting_list(db, org)
    roster = Roster()  # one read of the mentors for the whole batch, not one per member
    mentors = [s.profile for s in await roster.mentors(db, org)]
    # Imported here: scipy takes 1.5 s to import, which every start of a mentoring process would pay.
    from services.mentoring import assignment

    # Seconds of CPU for a large list: off the event loop, so requests and timers go on meanwhile.
    plan = await asyncio.to_thread(assignment.optimal, mentors, [store.doc_to_request(m) for m in waiting])
    by_request = {m["request"]["id"]: m for m in waiting}
    slots = asyncio.Semaphore(8)

    async def one(request_id: str, mentor_id: str) -> Document:
        async with slots:
            member = by_request[request_id]
            return await propose_next(
                db,
                publisher,
                settings,
                org,
                member["member_id"],
                now,
                mentor_id,
                roster=roster,
                member=member,
            )

    members = await asyncio.gather(*(one(r, m) for r, m in plan.pairs.items()))
    proposed = sum(m.get("status") == "proposed" for m in members)
    return Rematched(len(waiting), proposed, len(waiting) - proposed, plan.total)
