import datetime as dt
from datetime import timedelta

from services.meetings.directory import Directory, Query, distance_km
from services.meetings.model import Listing, Meeting

# Wednesday 2026-12-02, 12:00 UTC = 06:00 in Chicago.
NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)


def meeting(id: str, **fields: object) -> Meeting:
    base: dict[str, object] = {"name": id.title(), "day": 3, "time": "19:00", "timezone": "America/Chicago"}
    listing = Listing.model_validate({**base, "formatted_address": "1 Main St", **fields})
    return Meeting(id=id, org="org-a", slug=id, listing=listing, updated=NOW)


def ids(d: Directory, **query: object) -> list[str]:
    return [h.meeting.id for h in d.search(Query(**query), NOW).hits]  # type: ignore[arg-type]


def directory(*meetings: Meeting) -> Directory:
    d = Directory()
    for m in meetings:
        d.put(m)
    return d


def test_results_come_soonest_first_and_are_paged() -> None:
    d = directory(
        meeting("late", time="21:00"), meeting("early", time="05:00"), meeting("noon", time="12:00")
    )
    assert ids(d) == ["noon", "late", "early"]  # 05:00 today has passed: next week
    page = d.search(Query(limit=2, offset=1), NOW)
    assert (page.total, [h.meeting.id for h in page.hits]) == (3, ["late", "early"])


def test_by_day_on_the_meetings_own_calendar_including_monthly_and_one_off_meetings() -> None:
    d = directory(
        meeting("wed"),
        meeting("thu", day=4),
        meeting("first-wed", day=None, monthly=[{"nth": 1, "day": 3}]),
        meeting("one-off", day=None, dates=["2026-12-09"]),
    )
    assert sorted(ids(d, day=3)) == ["first-wed", "one-off", "wed"]
    assert ids(d, day=4) == ["thu"]


def test_by_time_window_types_language_and_attendance() -> None:
    d = directory(
        meeting("open", types=["O", "EN"]),
        meeting("closed-es", types=["C", "S"], time="20:00"),
        meeting("online", types=["O"], formatted_address=None, conference_url="https://zoom.us/j/1"),
    )
    assert ids(d, time_from=dt.time(19, 30), time_to=dt.time(21)) == ["closed-es"]
    assert sorted(ids(d, types=frozenset({"O"}))) == ["online", "open"]
    assert ids(d, types=frozenset({"O", "EN"})) == ["open"]
    assert ids(d, language="S") == ["closed-es"]
    assert ids(d, attendance=frozenset({"online"})) == ["online"]
    assert ids(d, types=frozenset({"NOPE"})) == []


def test_by_region_and_text_ignoring_case() -> None:
    d = directory(
        meeting("a", region="Lakeshore", notes="Wheelchair ramp at the back"),
        meeting("b", regions=["Cook County", "Riverside"], group="Serenity Group"),
    )
    assert ids(d, region="lakeshore") == ["a"]
    assert ids(d, region="riverside") == ["b"]
    assert ids(d, text="WHEELCHAIR") == ["a"]
    assert ids(d, text="serenity") == ["b"]


def test_by_distance_nearest_first_with_the_distance() -> None:
    loop = {"latitude": 41.8781, "longitude": -87.6298}
    d = directory(
        meeting("evanston", latitude=42.0451, longitude=-87.6877),
        meeting("loop", **loop),
        meeting("no-point"),
        meeting("milwaukee", latitude=43.0389, longitude=-87.9065),
    )
    hits = d.search(Query(near=(41.88, -87.63, 25.0)), NOW).hits
    assert [h.meeting.id for h in hits] == ["loop", "evanston"]
    assert hits[0].distance_km is not None and hits[0].distance_km < 1
    assert 18 < distance_km((0.7309, -1.5294), (0.7338, -1.5304)) < 20


def test_starting_within_hours_in_any_time_zone() -> None:
    d = directory(
        meeting("chicago-7am", time="07:00"),  # 13:00 UTC: in an hour
        meeting("tokyo-9pm", time="21:00", timezone="Asia/Tokyo", day=3),  # 12:00 UTC: now
        meeting("chicago-7pm"),
    )
    assert ids(d, starting_within=timedelta(hours=2)) == ["tokyo-9pm", "chicago-7am"]


def test_a_cancelled_occurrence_does_not_start_soon_and_the_next_one_counts() -> None:
    m = meeting("m", time="07:00")
    cancelled = Meeting(m.id, m.org, m.slug, m.listing, NOW, cancelled_occurrences=(dt.date(2026, 12, 2),))
    d = directory(cancelled)
    assert ids(d, starting_within=timedelta(hours=2)) == []
    (hit,) = d.search(Query(), NOW).hits
    assert hit.next_start == dt.datetime(2026, 12, 9, 13, tzinfo=dt.UTC)


def test_putting_a_meeting_again_replaces_it_and_a_cancelled_one_leaves() -> None:
    d = directory(meeting("m", types=["O"]))
    d.put(meeting("m", types=["C"], day=5))
    assert (ids(d, types=frozenset({"O"})), ids(d, types=frozenset({"C"})), ids(d, day=3)) == ([], ["m"], [])
    m = meeting("m")
    d.put(Meeting(m.id, m.org, m.slug, m.listing, NOW, status="cancelled"))
    assert len(d) == 0 and ids(d) == []


def test_an_organizations_meetings_are_listed_by_id_and_a_cancelled_one_is_not() -> None:
    other = meeting("b")
    d = directory(meeting("c"), meeting("a"), Meeting("x", "org-b", "x", other.listing, NOW))
    assert [m.id for m in d.meetings("org-a")] == ["a", "c"]
    assert [m.id for m in d.meetings()] == ["a", "c", "x"]
    d.put(Meeting("a", "org-a", "a", other.listing, NOW, status="cancelled"))
    assert [m.id for m in d.meetings("org-a")] == ["c"] and d.meetings("org-z") == []
