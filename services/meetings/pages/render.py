"""The pages' HTML: Jinja2 templates (autoescaped: every listing field is someone else's text) filled
with what the page model says."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from services.meetings import model as meetings_model
from services.meetings.directory_api import DirectoryMeeting, DirectoryPage, Occurrence, SearchParams
from services.meetings.model import Meeting
from services.meetings.pages import model

TEMPLATES = Path(__file__).with_name("templates")
WITHIN_CHOICES = (1, 2, 3, 6, 12, 24)
SOON_HOURS = 2.0
RADIUS_KM = 25
# What each search parameter is called on the form, so an error names the field the person sees.
LABELS = {
    "day": "Day",
    "time_from": "Starting from",
    "time_to": "Starting by",
    "starting_within_hours": "Starting within",
    "tz": "Your time zone",
    "types": "Meeting type",
    "region": "Region or city",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "radius_km": "Within (km)",
    "attendance": "Attend",
    "language": "Language",
    "q": "Name, place or words",
    "limit": "Results per page",
    "offset": "Page",
}


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        DAY_NAMES=meetings_model.DAY_NAMES,
        ATTENDANCE_WORDS=model.ATTENDANCE_WORDS,
        type_name=model.type_name,
        phone_link=model.phone_link,
    )
    return env


def _html(name: str, status: int, **context: Any) -> HTMLResponse:
    return HTMLResponse(environment().get_template(name).render(**context), status_code=status)


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[str]:
    """FastAPI's validation errors as sentences naming the form's fields (never echoing the value)."""
    found = []
    for error in errors:
        names = [str(part) for part in error.get("loc", ()) if str(part) in LABELS]
        label = LABELS[names[0]] if names else "The search"
        found.append(f"{label}: {str(error.get('msg', 'is not valid')).removeprefix('Value error, ')}.")
    return list(dict.fromkeys(found))


def result(item: DirectoryMeeting, now: datetime, tz: str | None) -> dict[str, Any]:
    """One search result as the list shows it: when in the meeting's own zone (and the reader's, when
    they differ), where, and who lists it."""
    starts = item.next_start.astimezone(ZoneInfo(item.timezone)) if item.next_start else None
    yours = None
    if starts and tz:
        local = starts.astimezone(ZoneInfo(tz))
        if local.utcoffset() != starts.utcoffset():
            yours = model.when_in_words(local, now)
    return {
        "name": item.name,
        "slug": item.slug,
        "starts": starts,
        "when": model.when_in_words(starts, now) if starts else None,
        "starts_in": model.starts_in_words(starts, now) if starts else None,
        "yours": yours,
        "zone": item.timezone,
        "where": item.location or model.address_line(item),
        "address": model.address_line(item) if item.location else None,
        "option": item.attendance_option,
        "org_name": item.org_name,
        "distance_km": item.distance_km,
        "types": [model.type_name(t) for t in item.types if t in meetings_model.type_names()],
    }


def search_page(
    request: Request,
    *,
    params: SearchParams | None = None,
    soon: bool = False,
    found: DirectoryPage | None = None,
    now: datetime | None = None,
    errors: Iterable[str] = (),
    status: int = 200,
) -> HTMLResponse:
    form = request.query_params
    within = params.starting_within_hours if params else None
    # A value the select does not offer (from a link) stays chosen, so searching again keeps it.
    within_selected = f"{within:g}" if within is not None else form.get("starting_within_hours", "")
    choices = {f"{h:g}": float(h) for h in WITHIN_CHOICES}
    if within is not None:
        choices[within_selected] = within
    results, previous, following = [], None, None
    if found is not None and now is not None:
        results = [result(item, now, params.tz if params else None) for item in found.items]
        previous, following = model.page_links(form.multi_items(), found.offset, found.limit, found.total)
    return _html(
        "find.html",
        status,
        page="soon" if soon else "find",
        soon=soon,
        form=form,
        within_selected=within_selected,
        within_words=model.hours_in_words(within or SOON_HOURS),
        within_choices=[
            (value, model.hours_in_words(hours))
            for value, hours in sorted(choices.items(), key=lambda c: c[1])
        ],
        radius=form.get("radius_km", str(RADIUS_KM)),
        common_types=model.choices(model.COMMON_TYPES),
        languages=model.choices(model.LANGUAGE_TYPES),
        errors=list(errors),
        found=found,
        results=results,
        previous=previous,
        following=following,
        searched=bool(form.keys() - {"view", "tz"}),
    )


def meeting_page(
    request: Request, meeting: Meeting, *, org_name: str, upcoming: list[Occurrence], now: datetime
) -> HTMLResponse:
    listing = meeting.listing
    zone = ZoneInfo(listing.timezone)
    dates = [
        {
            "at": o.starts_at.astimezone(zone),
            "when": model.when_in_words(o.starts_at.astimezone(zone), now),
            "cancelled": o.cancelled,
            "moved": o.moved,
        }
        for o in upcoming
    ]
    return _html(
        "meeting.html",
        200,
        page="",
        meeting=meeting,
        listing=listing,
        org_name=org_name,
        schedule=model.schedule_in_words(listing),
        option=meetings_model.attendance_option(listing),
        address=model.address_line(listing),
        map_link=model.map_link(listing),
        types=[model.type_name(t) for t in listing.types],
        dates=dates,
        calendar=f"/directory/meetings/{meeting.slug}/calendar.ics",
    )


def not_found(request: Request) -> HTMLResponse:
    return _html("not_found.html", 404, page="")
