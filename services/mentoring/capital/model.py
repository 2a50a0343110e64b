"""Recovery capital rules, free of I/O: BARC-10 answers, their total, when the next one is due, a
member's trend, and the organization's aggregates (never over fewer than `min_group` members).

The Brief Assessment of Recovery Capital has ten items, each answered 1-6 (strongly disagree to
strongly agree), so a total of 10-60. Only item numbers live here: the organization supplies the
wording (see the package docstring for why).

Periods: the first response is the intake, taken any time. After it, one is due every
`interval_days` (90 by default) from the last *counted* response. A response given earlier than that
is kept and shown to the member (it is theirs, and their trend uses every response), but it is not
counted: it does not start a new period, and the organization's figures use counted responses only,
so a member who answers every week weighs as much as one who answers every 90 days, and "latest"
always means a measure taken at least one interval after the one before.
"""

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

ITEMS = 10
LOWEST, HIGHEST = 1, 6
MIN_TOTAL, MAX_TOTAL = ITEMS * LOWEST, ITEMS * HIGHEST
# However the organization is configured, no figure is ever shown over fewer members than this.
FLOOR_GROUP = 5


class InvalidAnswers(ValueError):
    """Not exactly ten whole numbers from 1 to 6."""


def validated(answers: Sequence[object]) -> tuple[int, ...]:
    """Exactly ten answers, each an int 1-6 (a bool, a float or text is not one), in item order."""
    if isinstance(answers, str | bytes) or len(answers) != ITEMS:
        raise InvalidAnswers(f"exactly {ITEMS} answers are needed, one per item in order")
    checked: list[int] = []
    for number, answer in enumerate(answers, start=1):
        if type(answer) is not int or not LOWEST <= answer <= HIGHEST:
            raise InvalidAnswers(
                f"item {number}: the answer must be a whole number from {LOWEST} to {HIGHEST}"
            )
        checked.append(answer)
    return tuple(checked)


def total(answers: Sequence[int]) -> int:
    return sum(validated(answers))


@dataclass(frozen=True)
class Response:
    answers: tuple[int, ...]
    total: int
    taken_at: datetime
    counted: bool  # the intake, or at least one interval after the last counted response


def _last_counted(history: Sequence[Response]) -> Response | None:
    return next((r for r in reversed(history) if r.counted), None)


def due_on(history: Sequence[Response], interval_days: int) -> dt.date | None:
    """The date the next counted response is due (UTC); None when the intake is still to come."""
    last = _last_counted(history)
    return None if last is None else last.taken_at.date() + dt.timedelta(days=interval_days)


def respond(
    history: Sequence[Response], answers: Sequence[object], at: datetime, interval_days: int
) -> Response:
    """A new response given at `at` after `history` (oldest first): counted when it is the intake or due."""
    checked = validated(answers)
    due = due_on(history, interval_days)
    return Response(checked, sum(checked), at, due is None or at.date() >= due)


@dataclass(frozen=True)
class Trend:
    first: int
    previous: int | None  # None with one response only
    latest: int
    since_first: int
    since_previous: int | None


def trend(history: Sequence[Response]) -> Trend | None:
    """How a member's total has moved, over every response of theirs (oldest first)."""
    if not history:
        return None
    first, latest = history[0].total, history[-1].total
    previous = history[-2].total if len(history) > 1 else None
    return Trend(
        first=first,
        previous=previous,
        latest=latest,
        since_first=latest - first,
        since_previous=None if previous is None else latest - previous,
    )


# The organization's view
#
# Why no one member's answers can be read off the report. A report read before and after one member
# answers would give that member's total from the change of a count and a mean ((n+1)m' - n m). So
# every figure here is computed from the responses *taken in one closed calendar quarter* (UTC)
# only: a response is stored with the instant it is given and never dated back, so once a quarter
# has ended the set of responses a figure reads never changes, and every read shows the same
# figure. Quarters are disjoint, and no figure is the sum or union of others, so no two figures,
# read at any two times, differ by one member. Each figure still covers at least `min_group`
# (>= FLOOR_GROUP) members, or is withheld. As a second guard (should a member's data ever be erased
# from a closed quarter), a count is shown rounded down to a multiple of BAND and the mean and
# median rounded to whole points, so one member more or less does not show as an exact difference.


@dataclass(frozen=True)
class Figure:
    """One aggregate; every number is None, with the reason, when too few members are in it."""

    members: int | None  # rounded down to a multiple of BAND
    mean: int | None  # whole points
    median: int | None  # whole points
    withheld: str | None = None


@dataclass(frozen=True)
class Quarter:
    quarter: str  # "2025-Q1"
    intake: Figure  # members whose first response was taken in the quarter
    latest: Figure  # members with a counted follow-up in it: their last one there
    change: Figure  # the same members: that follow-up minus their intake


@dataclass(frozen=True)
class Report:
    min_group: int
    quarters: list[Quarter]  # closed quarters with a response, newest first, at most QUARTERS


BAND = 5
QUARTERS = 8  # two years


def figure(values: Sequence[int], min_group: int) -> Figure:
    if len(values) < min_group:
        return Figure(
            None,
            None,
            None,
            withheld=f"fewer than {min_group} members: withheld so that no one can be singled out",
        )
    return Figure(
        len(values) // BAND * BAND, round(statistics.fmean(values)), round(statistics.median(values))
    )


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _label(quarter: tuple[int, int]) -> str:
    return f"{quarter[0]}-Q{quarter[1]}"


def report(histories: Sequence[Sequence[Response]], min_group: int, now: datetime) -> Report:
    """Aggregates over members' histories (one per member, oldest first), per closed calendar quarter
    before `now`'s, each figure shown only over at least `min_group` members (and never under
    FLOOR_GROUP, whatever is configured)."""
    group = max(min_group, FLOOR_GROUP)
    current = quarter_of(now.astimezone(dt.UTC).date())
    intakes: dict[tuple[int, int], list[int]] = {}
    follow_ups: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}
    for member, h in enumerate(histories):
        if not h:
            continue
        first = h[0]
        intakes.setdefault(quarter_of(first.taken_at.astimezone(dt.UTC).date()), []).append(first.total)
        for r in h[1:]:
            if r.counted:  # the last counted one of each quarter wins: responses are oldest first
                q = quarter_of(r.taken_at.astimezone(dt.UTC).date())
                follow_ups.setdefault(q, {})[member] = (first.total, r.total)
    closed = sorted({q for q in (*intakes, *follow_ups) if q < current}, reverse=True)[:QUARTERS]
    quarters = []
    for q in closed:
        pairs = list(follow_ups.get(q, {}).values())
        quarters.append(
            Quarter(
                _label(q),
                intake=figure(intakes.get(q, []), group),
                latest=figure([last for _, last in pairs], group),
                change=figure([last - first for first, last in pairs], group),
            )
        )
    return Report(min_group=group, quarters=quarters)


# The questionnaire's wording, supplied by the organization


@dataclass(frozen=True)
class Wording:
    lang: str
    items: tuple[str, ...]  # ten, in item order
    scale: tuple[str, ...] | None  # six labels, for 1 to 6, when the organization gave them


@dataclass(frozen=True)
class Questionnaire:
    lang: str | None  # the language of the texts, None when there are none
    items: list[tuple[int, str | None]]  # item number, and its text
    scale: tuple[str, ...] | None
    languages: list[str]  # every language the organization gave
    note: str | None


NO_WORDING = (
    "your organization has not supplied the wording of the items: ask them for the BARC-10 form, and "
    "answer each numbered item from 1 (strongly disagree) to 6 (strongly agree)"
)


def questionnaire(wordings: Sequence[Wording], lang: str | None) -> Questionnaire:
    """The organization's texts in `lang`, else in the first language it gave, else the item numbers
    alone with a note."""
    languages = [w.lang for w in wordings]
    chosen = next((w for w in wordings if w.lang == lang), wordings[0] if wordings else None)
    if chosen is None:
        return Questionnaire(None, [(n, None) for n in range(1, ITEMS + 1)], None, [], NO_WORDING)
    items: list[tuple[int, str | None]] = list(enumerate(chosen.items, start=1))
    note = None if lang in (None, chosen.lang) else f"not available in {lang}: shown in {chosen.lang}"
    return Questionnaire(chosen.lang, items, chosen.scale, languages, note)
