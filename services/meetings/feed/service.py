"""Feed use cases: import a Meeting Guide feed into an organization, write a feed out."""

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from pymongo.errors import DuplicateKeyError

from contracts.ids import new_id
from services.meetings import model as meetings_model
from services.meetings import service as meetings
from services.meetings.directory import Directory
from services.meetings.feed import store
from services.meetings.feed.model import (
    Parsed,
    Report,
    ReportLine,
    Skipped,
    duplicate,
    feed_items,
    from_feed,
    keep_past_dates,
)
from services.meetings.model import Meeting
from services.meetings.store import Db
from shared.http import NotFound, Problem
from shared.messaging.publisher import EventPublisher

BATCH = 500  # meetings per chunk of a feed written out


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def checked_feed(items: Any) -> list[dict[str, Any]]:
    """The feed itself, or a 422 before anything is written: a feed is a JSON array of objects."""
    if not isinstance(items, list):
        raise Problem(422, "Unprocessable Content", "a Meeting Guide feed is a JSON array of meetings")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Problem(
                422,
                "Unprocessable Content",
                f"a Meeting Guide feed is a JSON array of meetings: item {index} is not an object",
            )
    return items


def parse_feed(raw: bytes) -> list[dict[str, Any]]:
    """An uploaded file as a feed; a 422 when it is not JSON or not a feed."""
    try:
        items = json.loads(raw.decode("utf-8-sig"))  # a byte-order mark is what some exporters write
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(422, "Unprocessable Content", "the file is not JSON (UTF-8)") from exc
    except RecursionError as exc:
        # The parser recurses once per level: arrays nested thousands deep exhaust the stack. A feed
        # is two levels deep (an array of meetings, a meeting's lists).
        raise Problem(422, "Unprocessable Content", "the file nests deeper than any feed does") from exc
    return checked_feed(items)


async def import_feed(
    db: Db,
    publisher: EventPublisher,
    org: str,
    items: Any,
    default_timezone: str,
) -> Report:
    """Each item imported, updated, left unchanged or skipped (with why), idempotent by the feed's slug.

    Every item is parsed before anything is written, so an item the parser cannot take leaves nothing
    half-imported; then each meeting is written on its own (a feed is thousands of independent
    listings, and one bad item must not hold back the rest). A problem with one meeting while it is
    written (it was cancelled meanwhile, no slug is free) is that item's skipped line: the report
    always has a line for every item.
    """
    feed = checked_feed(items)
    planned: list[Parsed | ReportLine] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(feed):
        parsed = from_feed(item, default_timezone, index=index)
        if isinstance(parsed, Skipped):
            planned.append(_skipped(index, item, parsed.reason))
        elif parsed.slug in seen:
            planned.append(_skipped(index, item, duplicate(parsed.slug, seen[parsed.slug])))
        else:
            seen[parsed.slug] = index
            planned.append(parsed)
    report = Report()
    today = _today()
    for index, step in enumerate(planned):
        if isinstance(step, Parsed):
            step = await _import_one(db, publisher, org, index, step, today)
        report.add(step)
    return report


def _skipped(index: int, item: dict[str, Any], reason: str) -> ReportLine:
    slug = item.get("slug")
    shown = str(slug) if isinstance(slug, str | int) and not isinstance(slug, bool) else None
    return ReportLine(index=index, slug=shown, outcome="skipped", reason=reason)


async def _meeting_for(db: Db, org: str, slug: str) -> str:
    """The meeting id this feed slug stands for, claimed before any meeting is created.

    A slug already listed by this organization (a feed exported here and imported back, or a meeting
    its admins created by hand) is that meeting: importing it updates it rather than add a twin.
    """
    found = await store.imported_meeting(db, org, slug)
    if found:
        return found
    owner = await store.slug_owner(db, slug)
    wanted = str(owner["meeting_id"]) if owner and owner.get("org") == org else new_id()
    return await store.claim_import(db, org, slug, wanted)


async def _import_one(
    db: Db, publisher: EventPublisher, org: str, index: int, parsed: Parsed, today: dt.date
) -> ReportLine:
    line = ReportLine(index=index, slug=parsed.slug, outcome="unchanged", notes=list(parsed.notes))
    try:
        line.meeting_id = await _meeting_for(db, org, parsed.slug)
        await _write(db, publisher, org, line, parsed, today)
    except Problem as problem:
        line.outcome, line.reason = "skipped", problem.detail or problem.title
    return line


async def _write(
    db: Db, publisher: EventPublisher, org: str, line: ReportLine, parsed: Parsed, today: dt.date
) -> None:
    """Create or update the item's meeting, saying on `line` what was done."""
    meeting_id = str(line.meeting_id)
    try:
        current = await meetings.get_meeting(db, org, meeting_id)
    except NotFound:
        try:
            created = await meetings.create_meeting(
                db, publisher, org, parsed.listing, slug=parsed.slug, meeting_id=meeting_id
            )
        except DuplicateKeyError:
            # The same slug imported at the same time (an upload retried, or sent twice): the other
            # request created the meeting between our read and our insert, so ours is an update.
            current = await meetings.get_meeting(db, org, meeting_id)
        else:
            line.outcome, line.listed_as = "imported", created.slug
            if created.slug != parsed.slug:
                line.notes.append(f"slug {parsed.slug!r} is taken in the network: listed as {created.slug!r}")
            return
    line.listed_as = current.slug
    if current.cancelled:
        line.outcome = "skipped"
        line.reason = "the meeting is cancelled here: an import does not list it again"
        return
    listing = keep_past_dates(parsed.listing, current.listing, today)
    changed = meetings_model.changed_fields(current.listing, listing)
    if changed:
        await meetings.update_meeting(db, publisher, org, meeting_id, listing)
        line.outcome = "updated"
        line.notes.append("changed: " + ", ".join(changed))


def published_feed(directory: Directory, org: str | None) -> Iterator[bytes]:
    """The active meetings of one organization (or of the network) as a feed, from the directory.

    The meetings are listed now, while the caller is on the event loop that keeps the directory
    current; their JSON is written as the answer is sent (feed_json).
    """
    return feed_json(directory.meetings(org), _today())


def feed_json(meetings_: list[Meeting], today: dt.date) -> Iterator[bytes]:
    """These meetings as one feed (JSON text), a batch at a time: 20,000 meetings are never one string."""
    written = False
    for start in range(0, len(meetings_), BATCH):
        chunk = _chunk(feed_items(meetings_[start : start + BATCH], today=today), written)
        written = written or bool(chunk)
        if chunk:
            yield chunk
    yield b"]" if written else b"[]"


def _chunk(items: list[dict[str, Any]], written: bool) -> bytes:
    if not items:
        return b""
    body = ",\n".join(json.dumps(item, ensure_ascii=False) for item in items)
    return ((",\n" if written else "[") + body).encode()
