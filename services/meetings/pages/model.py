"""How the directory pages say things, free of I/O: a schedule in words, type codes as names, a place
as a map link, a start time as someone reading on their phone wants it.

English only for now; the Meeting Guide type names come from its own list (services/meetings/data),
so another language is a lookup away.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from services.meetings.model import DAY_NAMES, ORDINALS, Listing, type_names

# The types people filter by most (the Meeting Guide app's own quick filters, roughly): a checkbox
# each keeps the form short on a phone; every other code still works in the URL.
COMMON_TYPES = ("O", "C", "D", "SP", "B", "ST", "BE", "LIT", "MED", "W", "M", "Y", "LGBTQ", "X", "ASL", "CF")
# Codes that name the language a meeting is held in.
LANGUAGE_TYPES = (
    "EN", "S", "FR", "DE", "ITA", "POL", "POR", "RUS", "UK", "AR", "FA", "HI", "PUN", "KOR", "JA",
    "TL", "TH", "TUR", "HE", "EL", "NL", "DA", "NO", "SV", "FI", "IS", "HU", "SK", "SL", "HR", "BG",
    "LT", "KA", "AM", "AF", "ML", "MT", "NE", "ASL",
)  # fmt: skip
ATTENDANCE_WORDS = {
    "in_person": "In person",
    "online": "Online",
    "hybrid": "In person and online",
    "inactive": "Not meeting in person for now",
}
SHOWN_DATES = 3  # one-off dates named in a schedule before "and N more"


def type_name(code: str) -> str:
    """A code the list does not know is shown as it is: the organization meant something by it."""
    return type_names().get(code, code)


def choices(codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, name) pairs, sorted by name, for a form."""
    return sorted(((c, type_name(c)) for c in codes), key=lambda pair: pair[1])


def and_list(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def clock(time: dt.time) -> str:
    return time.strftime("%H:%M")


def _weekly(days: list[int]) -> str:
    if len(days) == 7:
        return "every day"
    if days == [1, 2, 3, 4, 5]:
        return "Mondays to Fridays"
    return and_list([f"{DAY_NAMES[d]}s" for d in days])


def _dates(dates: list[dt.date]) -> str:
    named = [f"{d.day} {d:%B %Y}" for d in sorted(dates)[:SHOWN_DATES]]
    more = len(dates) - SHOWN_DATES
    return "on " + (
        and_list([*named, f"{more} more {'date' if more == 1 else 'dates'}"]) if more > 0 else and_list(named)
    )


def schedule_in_words(listing: Listing) -> str:
    """E.g. "Tuesdays and Thursdays at 18:30 to 19:30 (America/Chicago)", "First Sunday of the month at
    10:00 (Europe/Paris)": times are the meeting's own wall clock, so its zone is always named."""
    parts = []
    if listing.weekdays:
        parts.append(_weekly(listing.weekdays))
    if listing.monthly:
        rules = and_list([f"{ORDINALS[r.nth]} {DAY_NAMES[r.day]}" for r in listing.monthly])
        parts.append(f"{rules} of the month")
    if listing.dates:
        parts.append(_dates(listing.dates))
    when = "; also ".join(parts)
    hours = clock(listing.time) + (f" to {clock(listing.end_time)}" if listing.end_time else "")
    sentence = f"{when} at {hours} ({listing.timezone})"
    return sentence[0].upper() + sentence[1:]


def address_line(listing: Listing) -> str | None:
    if listing.formatted_address:
        return listing.formatted_address
    state = " ".join(p for p in (listing.state, listing.postal_code) if p)
    parts = [p for p in (listing.address, listing.city, state, listing.country) if p]
    return ", ".join(parts) or None


def map_link(listing: Listing) -> str | None:
    """OpenStreetMap at the meeting's point, or a search for its address when it has no point."""
    if listing.latitude is not None and listing.longitude is not None:
        lat, lon = f"{listing.latitude:.6f}", f"{listing.longitude:.6f}"
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
    address = address_line(listing)
    if address is None:
        return None
    return f"https://www.openstreetmap.org/search?query={quote(address)}"


def phone_link(number: str) -> str:
    """A tel: URI that dials through: the Meeting Guide's `,` (pause) and `#` are kept, `#` encoded."""
    return "tel:" + number.replace("#", "%23")


def hours_in_words(hours: float) -> str:
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def when_in_words(starts_at: datetime, now: datetime) -> str:
    """A start in its own zone: "Today 18:30", "Tomorrow 07:00", "Tue 14 Jan 18:30"."""
    today = now.astimezone(starts_at.tzinfo).date()
    day = starts_at.date()
    if day == today:
        label = "Today"
    elif day == today + timedelta(days=1):
        label = "Tomorrow"
    else:
        label = f"{starts_at:%a} {day.day} {starts_at:%b}" + (
            "" if day.year == today.year else f" {day.year}"
        )
    return f"{label} {starts_at:%H:%M}"


def starts_in_words(starts_at: datetime, now: datetime) -> str | None:
    """ "in 45 minutes", "in 1 hour 10 minutes", "now": for starts within a few hours, else None."""
    minutes = int((starts_at - now).total_seconds() // 60)
    if minutes < 0 or minutes >= 6 * 60:
        return None
    if minutes == 0:
        return "starting now"
    hours, rest = divmod(minutes, 60)
    words = [f"{hours} hour{'s' if hours > 1 else ''}"] if hours else []
    if rest:
        words.append(f"{rest} minute{'s' if rest > 1 else ''}")
    return "in " + " ".join(words)


def next_start(value: str | None, zone: str) -> datetime | None:
    """The directory's ISO `next_start`, in the meeting's own zone."""
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(ZoneInfo(zone))


def page_links(
    query: Sequence[tuple[str, str]], offset: int, limit: int, total: int
) -> tuple[str | None, str | None]:
    """The query strings of the previous and next pages (the same search, another offset)."""
    kept = [(k, v) for k, v in query if k != "offset"]

    def at(start: int) -> str:
        return "?" + urlencode([*kept, *([("offset", str(start))] if start else [])])

    previous = at(max(offset - limit, 0)) if offset > 0 else None
    following = at(offset + limit) if offset + limit < total else None
    return previous, following
