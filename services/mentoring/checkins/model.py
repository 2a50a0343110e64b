"""Check-ins and drift, as rules: a pair's rhythm, when a check-in is due, who is nudged when it is
not made, when a run of missed ones means drift, and which answer is a risk. No I/O.

- Cadence, agreed by the pair: `daily` (every day), `several_weekly` (every 2 days, so three or
  four times a week), `weekly` (every 7 days, the default). The first check-in is due one interval
  after the match starts; each check-in makes the next one due one interval after it.
- Mood is 1-5 (1 very low, 2 low, 3 okay, 4 good, 5 very good); craving is 0-10.
- A due time not met: the member is nudged `member_after` after it, then the mentor `mentor_after`
  after it. The mentor's nudge is the due time's last step: it counts as missed, and the next one
  is due at the first due time of the rhythm after the nudge. The due times passed by then (a
  `mentor_after` longer than the interval, or a nudge that fires late after downtime) count as
  missed too, without nudges of their own: a day of downtime on a daily rhythm then sends one
  nudge per side, not one per missed day. `drift_after` missed in a row tell the mentor, once per
  run (a check-in ends the run).
- A risk answer ("I need help now", or a craving at or above the organization's threshold) asks
  crisis for a case, merged into the member's open one (the de-duplication key is the member id,
  what crisis uses for the member's own alerts).
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, get_args

from contracts.ids import id_for
from contracts.mentoring import (
    CheckInOverdue,
    CheckInOverdueData,
    CrisisAlertRequested,
    CrisisAlertRequestedData,
    MenteeDrifting,
    MenteeDriftingData,
)

SOURCE = "mentoring"
Cadence = Literal["daily", "several_weekly", "weekly"]
CADENCES: tuple[Cadence, ...] = get_args(Cadence)
DEFAULT_CADENCE: Cadence = "weekly"
INTERVALS: dict[Cadence, timedelta] = {
    "daily": timedelta(days=1),
    "several_weekly": timedelta(days=2),
    "weekly": timedelta(days=7),
}
Nudge = Literal["member", "mentor"]
MOOD_MIN, MOOD_MAX = 1, 5
CRAVING_MIN, CRAVING_MAX = 0, 10
NOTE_MAX = 2000
THRESHOLD_MIN, THRESHOLD_MAX = 1, 10
NEXT_STEPS = (
    "A crisis responder from your organization will reach out to you soon. If you are in immediate "
    "danger, call or text 988 (Suicide & Crisis Lifeline, in the US) or your local emergency number."
)


@dataclass(frozen=True)
class Pair:
    """A match as check-ins see it: who, since when, the agreed rhythm and where it stands."""

    org: str
    match_id: str
    member_id: str
    mentor_id: str
    since: datetime
    cadence: Cadence
    due_at: datetime
    active: bool = True
    last_check_in_at: datetime | None = None
    missed: int = 0  # due times missed in a row
    nudged: tuple[Nudge, ...] = ()  # who has been nudged about `due_at`
    drifting: bool = False  # this run of missed check-ins was announced
    ended_at: datetime | None = None  # when the match ended: retention counts from it


@dataclass(frozen=True)
class Rules:
    member_after: timedelta
    mentor_after: timedelta
    drift_after: int


@dataclass(frozen=True)
class CheckIn:
    id: str
    org: str
    # None for a risk answer from a member with no active match: crisis is asked all the same.
    match_id: str | None
    member_id: str
    mentor_id: str | None
    at: datetime
    mood: int
    craving: int
    need_help_now: bool
    note: str | None


def interval(cadence: Cadence) -> timedelta:
    return INTERVALS[cadence]


def started(org: str, match_id: str, member_id: str, mentor_id: str, since: datetime) -> Pair:
    """A pair that has just begun: weekly until they agree otherwise, first due one interval on."""
    return Pair(
        org, match_id, member_id, mentor_id, since, DEFAULT_CADENCE, since + interval(DEFAULT_CADENCE)
    )


def checked_in(pair: Pair, at: datetime) -> Pair:
    """A check-in meets the due time, ends any run of missed ones and sets the next due time."""
    if pair.last_check_in_at is not None and at <= pair.last_check_in_at:
        return pair  # an older check-in, applied late: the newer one already set the rhythm
    return replace(
        pair,
        last_check_in_at=at,
        due_at=at + interval(pair.cadence),
        missed=0,
        nudged=(),
        drifting=False,
    )


def with_cadence(pair: Pair, cadence: Cadence, now: datetime) -> Pair:
    """The pair agreed a new rhythm: the next check-in is due one new interval after the last one
    (or the start), but never in the past, so agreeing a faster rhythm does not make one overdue."""
    base = pair.last_check_in_at or pair.since
    return replace(pair, cadence=cadence, due_at=max(base + interval(cadence), now), nudged=())


def ended(pair: Pair, at: datetime) -> Pair:
    return replace(pair, active=False, ended_at=at)


def nudge_times(due_at: datetime, rules: Rules) -> dict[Nudge, datetime]:
    return {"member": due_at + rules.member_after, "mentor": due_at + rules.mentor_after}


def overdue(
    pair: Pair, due_at: datetime, who: Nudge, rules: Rules, now: datetime
) -> tuple[Pair, list[CheckInOverdue | MenteeDrifting]] | None:
    """A nudge's time came for `due_at` (and `now` is when it fires): the pair after it and the
    events it causes, or None when there is nothing to do (the match ended, a check-in moved the due
    time, this nudge was made)."""
    if not pair.active or pair.due_at != due_at or who in pair.nudged:
        return None
    events: list[CheckInOverdue | MenteeDrifting] = [overdue_event(pair, who)]
    if who == "member":
        return replace(pair, nudged=(*pair.nudged, who)), events
    step = interval(pair.cadence)
    # Due times already past are missed as well; nudging each in turn would be a burst of stale ones.
    skipped = max((now - due_at) // step, 0)
    missed, drifting = pair.missed + 1 + skipped, pair.drifting
    if missed >= rules.drift_after and not drifting:
        events.append(
            drifting_event(
                pair, "missed_check_ins", id_for(due_at, f"{_key(pair)}@{due_at.isoformat()}#drift")
            )
        )
        drifting = True
    after = replace(pair, missed=missed, drifting=drifting, nudged=(), due_at=due_at + (skipped + 1) * step)
    return after, events


def _key(pair: Pair) -> str:
    return f"{pair.org}/{pair.match_id}"


def overdue_event(pair: Pair, who: Nudge) -> CheckInOverdue:
    # One id per match, due time and nudge: a nudge fired twice publishes one event.
    return CheckInOverdue.create(
        source=SOURCE,
        org=pair.org,
        subject=pair.match_id,
        id=id_for(pair.due_at, f"{_key(pair)}@{pair.due_at.isoformat()}#{who}"),
        data=CheckInOverdueData(
            match_id=pair.match_id,
            member_id=pair.member_id,
            mentor_id=pair.mentor_id,
            due_at=pair.due_at,
            nudge=who,
        ),
    )


def drifting_event(
    pair: Pair, signal: Literal["missed_meetings", "missed_check_ins"], event_id: str
) -> MenteeDrifting:
    return MenteeDrifting.create(
        source=SOURCE,
        org=pair.org,
        subject=pair.match_id,
        id=event_id,
        data=MenteeDriftingData(
            match_id=pair.match_id, member_id=pair.member_id, mentor_id=pair.mentor_id, signal=signal
        ),
    )


def is_risk(craving: int, need_help_now: bool, threshold: int) -> bool:
    return need_help_now or craving >= threshold


def alert_event(check_in: CheckIn) -> CrisisAlertRequested:
    """Crisis's request for a check-in that is a risk: ids and a severity only, never what was said."""
    return CrisisAlertRequested.create(
        source=SOURCE,
        org=check_in.org,
        subject=check_in.member_id,
        # The check-in's own: a retried write carries the same event.
        id=id_for(check_in.at, f"{check_in.org}/{check_in.id}#alert"),
        data=CrisisAlertRequestedData(
            member_id=check_in.member_id,
            requested_by=check_in.member_id,
            severity="imminent" if check_in.need_help_now else "high",
            reason="risk_flag",
            dedup_key=check_in.member_id,
        ),
    )
