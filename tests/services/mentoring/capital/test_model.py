"""BARC-10 scoring, validation, periods, trend and the organization's aggregates."""

import datetime as dt
from datetime import UTC, datetime, timedelta

import pytest

from services.mentoring.capital import model
from services.mentoring.capital.model import Response, Wording

T0 = datetime(2025, 1, 10, 9, tzinfo=UTC)


def test_the_total_is_the_sum_of_ten_answers_from_10_to_60() -> None:
    assert model.total([1] * 10) == 10
    assert model.total([6] * 10) == 60
    assert model.total([1, 2, 3, 4, 5, 6, 1, 2, 3, 4]) == 31


@pytest.mark.parametrize(
    "answers",
    [
        [3] * 9,
        [3] * 11,
        [],
        [0, *[3] * 9],
        [7, *[3] * 9],
        [True, *[3] * 9],  # a bool is not a number here
        [3.0, *[3] * 9],
        ["3", *[3] * 9],
        [None, *[3] * 9],
        "3333333333",
    ],
)
def test_anything_but_ten_whole_numbers_from_1_to_6_is_refused(answers: list[object]) -> None:
    with pytest.raises(model.InvalidAnswers):
        model.validated(answers)


def test_a_refusal_names_the_item_but_not_the_answer() -> None:
    with pytest.raises(model.InvalidAnswers, match="item 4") as refused:
        model.validated([3, 3, 3, 9, 3, 3, 3, 3, 3, 3])
    assert "9" not in str(refused.value)


def history(*days_and_totals: tuple[int, int], interval: int = 90) -> list[Response]:
    """Responses given `day` days after T0, each of ten answers adding up to `total`."""
    found: list[Response] = []
    for day, total in days_and_totals:
        answers = [total // 10 + (1 if n < total % 10 else 0) for n in range(10)]
        found.append(model.respond(found, answers, T0 + timedelta(days=day), interval))
    return found


def test_the_first_response_is_the_intake_and_counts_whenever_it_is_given() -> None:
    first = model.respond([], [4] * 10, T0, 90)
    assert first.counted and first.total == 40
    assert model.due_on([], 90) is None


def test_a_response_counts_from_the_day_it_is_due_and_an_earlier_one_is_kept_but_starts_no_period() -> None:
    h = history((0, 30), (60, 33), (90, 36), (150, 40), (181, 42))
    assert [r.counted for r in h] == [True, False, True, False, True]
    assert model.due_on(h, 90) == (T0 + timedelta(days=181 + 90)).date()


def test_an_early_response_does_not_move_the_next_due_date() -> None:
    h = history((0, 30), (30, 31))
    assert model.due_on(h, 90) == dt.date(2025, 4, 10)


def test_the_trend_is_the_change_since_the_first_and_since_the_previous_over_every_response() -> None:
    trend = model.trend(history((0, 30), (40, 28), (95, 41)))
    assert trend == model.Trend(first=30, previous=28, latest=41, since_first=11, since_previous=13)
    one = model.trend(history((0, 30)))
    assert one == model.Trend(first=30, previous=None, latest=30, since_first=0, since_previous=None)
    assert model.trend([]) is None


# Aggregates: T0 is in 2025-Q1, T0 + 100 days in Q2; LATER is in Q3, when both are closed.

LATER = datetime(2025, 7, 15, tzinfo=UTC)


def test_the_organization_sees_intake_latest_and_change_per_closed_quarter_over_at_least_five() -> None:
    members = [history((0, 20 + i), (100, 30 + 2 * i)) for i in range(5)]
    r = model.report(members, 5, LATER)
    assert [q.quarter for q in r.quarters] == ["2025-Q2", "2025-Q1"]
    q2, q1 = r.quarters
    assert q1.intake == model.Figure(5, 22, 22)
    assert (q2.latest, q2.change) == (model.Figure(5, 34, 34), model.Figure(5, 12, 12))
    assert q1.latest.withheld is not None and q2.intake.withheld is not None  # nobody in them


def test_one_member_answering_between_two_reads_changes_no_figure() -> None:
    # The attack: read, let one member answer, read again, and solve (n+1)m' - n m for their total.
    members = [history((0, 20 + i), (100, 30 + 2 * i)) for i in range(7)]
    before = model.report(members, 5, LATER)
    newcomer = model.respond([], [6] * 10, LATER, 90)
    returning = model.respond(members[0], [1] * 10, LATER + timedelta(days=90), 90)
    after = model.report([*members[1:], [*members[0], returning], [newcomer]], 5, LATER + timedelta(days=1))
    assert after == before


def test_the_current_quarter_is_never_shown() -> None:
    r = model.report([history((0, 30)) for _ in range(9)], 5, T0 + timedelta(days=1))
    assert r.quarters == []


def test_counts_are_in_bands_of_five_and_the_mean_and_median_whole_points() -> None:
    totals = [10, 20, 21, 30, 31, 40, 44]
    q = model.report([history((0, t)) for t in totals], 5, LATER).quarters[-1]
    assert q.intake == model.Figure(5, 28, 30)  # 7 members, mean 28.0, median 30


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_a_figure_over_one_to_four_members_is_withheld_with_its_reason(count: int) -> None:
    r = model.report([history((0, 30), (100, 40)) for _ in range(count)], 5, LATER)
    for q in r.quarters:
        for f in (q.intake, q.latest, q.change):
            assert (f.members, f.mean, f.median) == (None, None, None)
            assert f.withheld is not None and "fewer than 5" in f.withheld


def test_only_counted_responses_make_the_latest_figure() -> None:
    # Five members answered again within the interval only: no follow-up is counted for any of them.
    r = model.report([history((0, 30), (20, 50)) for _ in range(5)], 5, LATER)
    (q1,) = r.quarters
    assert q1.intake.members == 5 and q1.latest.withheld is not None


def test_a_configured_group_below_five_is_raised_to_five() -> None:
    r = model.report([history((0, 30)) for _ in range(4)], 2, LATER)
    assert r.min_group == 5 and r.quarters[0].intake.withheld is not None


def test_at_most_eight_closed_quarters_are_shown_newest_first() -> None:
    r = model.report([history((day, 30)) for day in range(0, 1200, 30)], 1, datetime(2030, 1, 1, tzinfo=UTC))
    assert len(r.quarters) == model.QUARTERS
    assert r.quarters[0].quarter == "2028-Q1" and r.quarters[-1].quarter == "2026-Q2"


# Wording


EN = Wording("en", tuple(f"item text {n}" for n in range(1, 11)), None)
ES = Wording("es", tuple(f"texto {n}" for n in range(1, 11)), tuple(f"nivel {n}" for n in range(1, 7)))


def test_without_the_organizations_wording_the_questionnaire_is_item_numbers_and_a_note() -> None:
    q = model.questionnaire([], "en")
    assert q.items == [(n, None) for n in range(1, 11)]
    assert q.lang is None and q.note == model.NO_WORDING


def test_the_questionnaire_is_in_the_language_asked_for_or_else_the_first_the_organization_gave() -> None:
    q = model.questionnaire([EN, ES], "es")
    assert (q.lang, q.items[0], q.scale, q.note) == ("es", (1, "texto 1"), ES.scale, None)
    fallback = model.questionnaire([EN, ES], "fr")
    assert fallback.lang == "en" and fallback.note == "not available in fr: shown in en"
    assert model.questionnaire([EN, ES], None).lang == "en"
    assert fallback.languages == ["en", "es"]
