"""Who hears what, on which channel and when: notifications, people's preferences, and the decisions
between them (quiet hours, digests, fallback, retries). No I/O; every decision takes the time as an
argument, so tests can put it anywhere (a DST change, the middle of the night).
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from contracts.notifications import Channel, Priority
from shared import scheduler
from shared.auth.principal import Principal, Role

Category = Literal["crisis", "mentoring", "meetings", "milestones", "account"]
Language = Literal["en", "es"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
# The channels a person can choose; webhooks are an organization's, not a person's.
PERSONAL_CHANNELS: tuple[Channel, ...] = ("in_app", "email", "sms")
# A message that fails on one channel moves on to the next; the in-app inbox is always written.
FALLBACK_ORDER: tuple[Channel, ...] = ("sms", "email", "in_app")
# Channels that can wake a person: these wait for the end of quiet hours, the inbox does not.
PUSHED: frozenset[Channel] = frozenset({"sms", "email"})
DIGESTIBLE: frozenset[Priority] = frozenset({"low"})


@dataclass(frozen=True)
class Notification:
    """One message of the catalogue to one person, rendered in their language: their inbox item."""

    id: str
    org: str
    recipient_id: str
    template: str
    category: Category
    priority: Priority
    title: str
    body: str
    link: str
    cause_event_id: str
    created_at: datetime
    read_at: datetime | None = None
    # Set when addressed to a member of this region's crisis team: they read it whatever organization
    # they belong to, as they read the case it is about (crisis lets them in by the case's region).
    team_region: str | None = None


@dataclass(frozen=True)
class QuietHours:
    """Wall-clock times in the person's zone; `start > end` spans midnight (22:00-07:00)."""

    start: time
    end: time


@dataclass(frozen=True)
class Digest:
    """Low-priority messages of these categories come once a day, at `hour` in the person's zone."""

    categories: frozenset[Category]
    hour: int


@dataclass(frozen=True)
class Person:
    """A person's contacts and preferences, as they (or their organization's admin) set them."""

    id: str
    org: str
    email: str | None = None
    phone: str | None = None  # E.164
    language: Language = "en"
    timezone: str = "UTC"
    # Per category, the channels chosen; a category not listed gets DEFAULT_CHANNELS.
    channels: dict[Category, tuple[Channel, ...]] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    digest: Digest | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


DEFAULT_CHANNELS: tuple[Channel, ...] = ("in_app", "email")


def unknown_person(person_id: str, org: str) -> Person:
    """Someone who never set anything: the inbox only (no address to reach them elsewhere)."""
    return Person(id=person_id, org=org)


def notification_id(cause_event_id: str, recipient_id: str) -> str:
    """The same for every delivery of the cause: a redelivered event finds its notification by id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rn:notification:{cause_event_id}:{recipient_id}"))


def delivery_id(notification: str, channel: Channel) -> str:
    """The idempotency key of one (event, recipient, channel): claimed once, sent once."""
    return f"{notification}:{channel}"


def reachable(person: Person) -> tuple[Channel, ...]:
    """The channels the person has an address for."""
    have: dict[Channel, bool] = {"in_app": True, "email": bool(person.email), "sms": bool(person.phone)}
    return tuple(c for c in PERSONAL_CHANNELS if have.get(c))


def channels_for(person: Person, category: Category, priority: Priority) -> tuple[Channel, ...]:
    """Where a message goes. Critical messages go everywhere the person can be reached, whatever they
    chose; the in-app inbox is always written, so nothing is ever sent to nobody."""
    if priority == "critical":
        return reachable(person)
    chosen = set(person.channels.get(category, DEFAULT_CHANNELS)) | {"in_app"}
    return tuple(c for c in reachable(person) if c in chosen)


def in_quiet_hours(person: Person, at: datetime) -> bool:
    quiet = person.quiet_hours
    if quiet is None or quiet.start == quiet.end:
        return False
    local = at.astimezone(person.zone).time()
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def _local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant a wall clock shows `wall` on `day`; a time skipped by a DST jump comes out the hour
    after (fold 0), an hour that happens twice comes out the first time, as a person means it."""
    aware = datetime.combine(day, wall, tzinfo=zone)
    # A wall time inside a spring-forward gap does not exist: round-tripping through UTC moves it on.
    return aware.astimezone(UTC).astimezone(zone)


def quiet_until(person: Person, at: datetime) -> datetime | None:
    """When the person's quiet hours end, if `at` falls inside them."""
    if not in_quiet_hours(person, at) or person.quiet_hours is None:
        return None
    zone = person.zone
    local = at.astimezone(zone)
    end = person.quiet_hours.end
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return _local(day, end, zone).astimezone(UTC)


def next_digest_at(person: Person, at: datetime) -> datetime:
    """The next time the person's daily digest goes out, strictly after `at`."""
    hour = person.digest.hour if person.digest else 8
    zone = person.zone
    local = at.astimezone(zone)
    for days in range(3):
        candidate = _local(local.date() + timedelta(days=days), time(hour), zone)
        if candidate > local:
            return candidate.astimezone(UTC)
    raise AssertionError("a day always has the hour")  # pragma: no cover


def digest_key(person: Person, send_at: datetime) -> str:
    """One digest per person per sending time: everything due at that hour goes in it."""
    return f"{person.id}@{send_at.astimezone(UTC):%Y-%m-%dT%H:%M}"


@dataclass(frozen=True)
class Plan:
    """What to do with one notification for one person, besides writing their inbox."""

    send_now: tuple[Channel, ...] = ()
    defer_until: datetime | None = None  # quiet hours: `deferred` wait until then
    deferred: tuple[Channel, ...] = ()
    digest_at: datetime | None = None  # the pushed channels' part goes in the digest sent then


def plan(person: Person, category: Category, priority: Priority, now: datetime) -> Plan:
    pushed = tuple(c for c in channels_for(person, category, priority) if c in PUSHED)
    if not pushed:
        return Plan()
    if priority == "critical":
        return Plan(send_now=pushed)
    digest = person.digest
    if priority in DIGESTIBLE and digest and category in digest.categories:
        return Plan(digest_at=next_digest_at(person, now))
    if (until := quiet_until(person, now)) is not None:
        return Plan(defer_until=until, deferred=pushed)
    return Plan(send_now=pushed)


def fallback(person: Person, failed: Channel, planned: tuple[Channel, ...]) -> Channel | None:
    """The next channel to try after `failed` gave up: the first later one in FALLBACK_ORDER the
    person can be reached on and that is not already being sent. The inbox, always written, ends it."""
    if failed not in FALLBACK_ORDER:  # an organization's webhook: its systems, not a person to reach
        return None
    later = FALLBACK_ORDER[FALLBACK_ORDER.index(failed) + 1 :]
    for channel in later:
        if channel == "in_app":
            return None
        if channel in reachable(person) and channel not in planned:
            return channel
    return None


# The status of a delivery stopped because its recipient left the crisis staff (attempt log, events).
RESPONDER_DEACTIVATED = "cancelled: responder deactivated"


def stopped_by_deactivation(category: str, caused_at: datetime, deactivated_at: datetime | None) -> bool:
    """Whether a message no longer goes to someone taken off their organization's crisis staff at
    `deactivated_at`. A crisis message caused by then is about cases they no longer work; one caused
    later is for someone put on the staff again. Other categories (their account, mentoring) still
    reach them: they may well still be a member."""
    return category == "crisis" and deactivated_at is not None and caused_at <= deactivated_at


def retry_delay(priority: Priority, attempt: int) -> timedelta:
    """Wait before attempt `attempt + 1`: crisis messages retry within seconds, the rest back off."""
    return scheduler.backoff(attempt, 2.0 if priority in ("critical", "high") else 30.0)


def max_attempts(priority: Priority) -> int:
    return 5 if priority in ("critical", "high") else 3


def team_regions(caller: Principal) -> frozenset[str]:
    """The regions whose crisis-team notifications the caller reads besides their organization's own."""
    return caller.regions if caller.has_any(Role.REGIONAL_RESPONDER) else frozenset()
