"""What mentoring events tell whom: the right person hears, in words, and nobody is named."""

import datetime as dt
from datetime import UTC, datetime

import pytest

from contracts.envelope import Event
from contracts.mentoring import (
    CheckInOverdue,
    CheckInOverdueData,
    CrisisAlertRequested,
    CrisisAlertRequestedData,
    MatchAccepted,
    MatchData,
    MatchDeclined,
    MatchEnded,
    MatchEndedData,
    MatchExpired,
    MatchProposed,
    MatchProposedData,
    MatchWithdrawn,
    MenteeDrifting,
    MenteeDriftingData,
    MilestoneReached,
    MilestoneReachedData,
)
from services.notifications import catalogue
from services.notifications.catalogue import milestone_words
from services.notifications.model import LANGUAGES, Language
from services.notifications.templates import TEMPLATES, Rendered, render

DUE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Distinctive ids: a rendered message that contains one of them names a person.
MEMBER, MENTOR, REQUEST = "member-7f3a", "mentor-51c9", "request-0b2e"
PAIR = {"match_id": "x1", "request_id": REQUEST, "mentor_id": MENTOR, "member_id": MEMBER}
# Everything a mentoring message may be given: ids of matches, codes, times. No person, no name.
ALLOWED_CONTEXT = {
    "match_id", "expires_at", "due_at", "ended_by", "reason", "back_to_waiting", "signal", "milestone",
    "audience",
}  # fmt: skip


def made(event: type[Event], data: object) -> Event:
    return event.create(source="mentoring", org="org-b", subject="x1", data=data)


def proposed(expires_at: datetime | None = DUE) -> Event:
    return made(MatchProposed, MatchProposedData(**PAIR, score=0.8, expires_at=expires_at))


def ended(ended_by: str = "mentor", reason: str = "not_a_fit", back_to_waiting: bool = True) -> Event:
    data = MatchEndedData.model_validate(
        {**PAIR, "ended_by": ended_by, "reason": reason, "back_to_waiting": back_to_waiting}
    )
    return made(MatchEnded, data)


def overdue(nudge: str) -> Event:
    data = CheckInOverdueData.model_validate(
        {"match_id": "x1", "member_id": MEMBER, "mentor_id": MENTOR, "due_at": DUE, "nudge": nudge}
    )
    return made(CheckInOverdue, data)


def drifting(signal: str) -> Event:
    data = MenteeDriftingData.model_validate(
        {"match_id": "x1", "member_id": MEMBER, "mentor_id": MENTOR, "signal": signal}
    )
    return made(MenteeDrifting, data)


def milestone(
    code: str = "30d", audience: str = "mentor", recipient_ids: tuple[str, ...] = (MENTOR,)
) -> Event:
    data = MilestoneReachedData.model_validate(
        {
            "member_id": MEMBER,
            "milestone": code,
            "reached_on": dt.date(2026, 2, 28),
            "audience": audience,
            "recipient_ids": list(recipient_ids),
        }
    )
    return made(MilestoneReached, data)


EXAMPLES: list[Event] = [
    proposed(),
    proposed(expires_at=None),
    made(MatchAccepted, MatchData(**PAIR)),
    made(MatchDeclined, MatchData(**PAIR)),
    made(MatchExpired, MatchData(**PAIR)),
    made(MatchWithdrawn, MatchData(**PAIR)),
    *(
        ended(by, reason, back)
        for by in ("member", "mentor", "coordinator")
        for reason, back in (
            ("goals_met", False),
            ("not_a_fit", True),
            ("member_unavailable", False),
            ("mentor_unavailable", True),
            ("no_contact", True),
            ("other", False),
        )
    ),
    overdue("member"),
    overdue("mentor"),
    drifting("missed_meetings"),
    drifting("missed_check_ins"),
    milestone("24h", "mentor", (MENTOR,)),
    milestone("1y", "group", ("g1", "g2", MEMBER, "g1")),
    milestone("18m", "nobody", ()),
]


def who(event: Event) -> list[tuple[str, str, str, str]]:
    return [(m.recipient_id, m.template, m.category, m.priority) for m in catalogue.messages(event)]


def words(event: Event, template: str, language: Language, zone: str = "UTC") -> Rendered:
    (message,) = [m for m in catalogue.messages(event) if m.template == template]
    return render(template, language, {**message.context, "url": "https://x.test" + message.link}, zone=zone)


# ---- milestone codes as words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "english", "spanish"),
    [
        ("24h", "24 hours", "24 horas"),
        ("30d", "30 days", "30 días"),
        ("60d", "60 days", "60 días"),
        ("90d", "90 days", "90 días"),
        ("6m", "6 months", "6 meses"),
        ("9m", "9 months", "9 meses"),
        ("1y", "1 year", "1 año"),
        ("18m", "18 months", "18 meses"),
        ("2y", "2 years", "2 años"),
        ("3y", "3 years", "3 años"),
        ("25y", "25 years", "25 años"),
        ("1d", "1 day", "1 día"),
        ("1m", "1 month", "1 mes"),
        ("1h", "1 hour", "1 hora"),
    ],
)
def test_a_milestone_code_reads_as_words_in_english_and_spanish(
    code: str, english: str, spanish: str
) -> None:
    assert milestone_words(code, "en") == english
    assert milestone_words(code, "es") == spanish


@pytest.mark.parametrize("code", ["", "30", "d30", "3w", "1.5y", "30 d", "30D", "-1y"])
def test_anything_but_a_milestone_code_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="milestone code"):
        milestone_words(code, "en")


def test_every_language_has_words_for_every_unit() -> None:
    for language in LANGUAGES:
        assert all(milestone_words(f"2{unit}", language) for unit in "hdmy")


# ---- who hears what ---------------------------------------------------------------------------------


def test_a_proposal_goes_to_both_and_the_mentor_is_told_when_it_expires() -> None:
    assert who(proposed()) == [
        (MENTOR, "match_proposed_mentor", "mentoring", "normal"),
        (MEMBER, "match_proposed_member", "mentoring", "normal"),
    ]
    assert "by 2026-03-01 13:00 CET" in words(proposed(), "match_proposed_mentor", "en", "Europe/Madrid").text
    assert (
        "antes del 2026-03-01 13:00 CET"
        in words(proposed(), "match_proposed_mentor", "es", "Europe/Madrid").text
    )
    assert " by " not in words(proposed(expires_at=None), "match_proposed_mentor", "en").text


def test_the_member_hears_a_proposal_is_not_yet_a_mentor_who_accepted() -> None:
    assert "as soon as they accept" in words(proposed(), "match_proposed_member", "en").text
    assert "en cuanto acepte" in words(proposed(), "match_proposed_member", "es").text


def test_an_accepted_match_tells_the_member_and_confirms_to_the_mentor() -> None:
    event = made(MatchAccepted, MatchData(**PAIR))
    assert who(event) == [
        (MEMBER, "match_accepted_member", "mentoring", "normal"),
        (MENTOR, "match_accepted_mentor", "mentoring", "normal"),
    ]
    assert words(event, "match_accepted_member", "en").subject == "Your mentor accepted"
    assert words(event, "match_accepted_member", "es").subject == "Su mentor aceptó"


def test_a_declined_proposal_tells_only_the_member_that_another_mentor_is_looked_for() -> None:
    event = made(MatchDeclined, MatchData(**PAIR))
    assert who(event) == [(MEMBER, "match_searching_member", "mentoring", "normal")]
    for language in LANGUAGES:
        text = words(event, "match_searching_member", language).text.lower()
        assert "declin" not in text and "rechaz" not in text and "expir" not in text and "venc" not in text
    assert "looking for another mentor" in words(event, "match_searching_member", "en").text


def test_the_member_cannot_tell_a_declined_proposal_from_an_expired_one() -> None:
    declined, expired = made(MatchDeclined, MatchData(**PAIR)), made(MatchExpired, MatchData(**PAIR))
    for language in LANGUAGES:
        assert words(declined, "match_searching_member", language) == words(
            expired, "match_searching_member", language
        )


def test_an_expired_proposal_tells_the_mentor_and_the_member() -> None:
    event = made(MatchExpired, MatchData(**PAIR))
    assert sorted(who(event)) == sorted([
        (MENTOR, "match_expired_mentor", "mentoring", "normal"),
        (MEMBER, "match_searching_member", "mentoring", "normal"),
    ])  # fmt: skip
    assert "expired before you answered" in words(event, "match_expired_mentor", "en").text
    assert "venció antes de que usted respondiera" in words(event, "match_expired_mentor", "es").text


def test_a_withdrawn_request_tells_only_the_mentor_who_was_considering_it() -> None:
    (message,) = catalogue.messages(made(MatchWithdrawn, MatchData(**PAIR)))
    assert (message.recipient_id, message.template, message.priority) == (
        MENTOR,
        "match_withdrawn_mentor",
        "normal",
    )


@pytest.mark.parametrize("ended_by", ["member", "mentor", "coordinator"])
def test_an_ended_match_tells_both_people_whoever_ended_it(ended_by: str) -> None:
    assert who(ended(ended_by)) == [
        (MEMBER, "match_ended_member", "mentoring", "normal"),
        (MENTOR, "match_ended_mentor", "mentoring", "normal"),
    ]


def test_the_member_hears_who_ended_it_and_whether_they_are_back_on_the_waiting_list() -> None:
    text = words(ended("mentor", "goals_met", back_to_waiting=True), "match_ended_member", "en").text
    assert "Your mentor ended your mentoring. Reason: goals met." in text
    assert "back on the waiting list" in text
    text = words(ended("member", "other", back_to_waiting=False), "match_ended_member", "en").text
    assert "You ended your mentoring" in text and "not on the waiting list" in text
    text = words(ended("coordinator", "no_contact", back_to_waiting=True), "match_ended_member", "es").text
    assert "Un coordinador terminó su mentoría. Motivo: sin contacto." in text
    assert "Volvió a la lista de espera" in text
    text = words(ended("member", "goals_met", back_to_waiting=False), "match_ended_member", "es").text
    assert "No está en la lista de espera" in text


def test_the_mentor_hears_the_reason_code_in_words_and_that_the_place_is_free() -> None:
    text = words(ended("member", "not_a_fit"), "match_ended_mentor", "en").text
    assert "A person you mentored ended your mentoring. Reason: not the right fit." in text
    assert "free again" in text and "waiting list" not in text
    text = words(ended("mentor", "mentor_unavailable"), "match_ended_mentor", "es").text
    assert "Usted terminó una mentoría. Motivo: el mentor ya no está disponible." in text


def test_an_overdue_check_in_nudges_the_member_first_then_the_mentor_more_urgently() -> None:
    assert who(overdue("member")) == [(MEMBER, "check_in_due_member", "mentoring", "normal")]
    assert who(overdue("mentor")) == [(MENTOR, "check_in_overdue_mentor", "mentoring", "high")]
    assert words(overdue("member"), "check_in_due_member", "en").subject == "Time for your check-in"
    text = words(overdue("mentor"), "check_in_overdue_mentor", "en", "America/Chicago").text
    assert "has not checked in since 2026-03-01 06:00 CST" in text
    text = words(overdue("mentor"), "check_in_overdue_mentor", "es", "America/Chicago").text
    assert "no ha hecho su seguimiento desde el 2026-03-01 06:00 CST" in text


@pytest.mark.parametrize(
    ("signal", "english", "spanish"),
    [
        ("missed_meetings", "missed several meetings", "faltó a varias reuniones"),
        ("missed_check_ins", "missed several check-ins", "no hizo varios seguimientos"),
    ],
)
def test_a_drifting_mentee_is_told_to_their_mentor_only_with_the_signal(
    signal: str, english: str, spanish: str
) -> None:
    assert who(drifting(signal)) == [(MENTOR, "mentee_drifting", "mentoring", "high")]
    assert english in words(drifting(signal), "mentee_drifting", "en").text
    assert spanish in words(drifting(signal), "mentee_drifting", "es").text


def test_a_milestone_congratulates_the_member_and_tells_the_chosen_people_for_their_digest() -> None:
    assert who(milestone("30d", "mentor", (MENTOR,))) == [
        (MEMBER, "milestone_reached_member", "milestones", "normal"),
        (MENTOR, "milestone_reached_shared", "milestones", "low"),
    ]
    assert words(milestone("1y"), "milestone_reached_member", "en").subject == "Congratulations on 1 year!"
    assert words(milestone("1y"), "milestone_reached_member", "es").subject == "¡Felicidades: 1 año!"
    assert "Cumplió 18 meses" in words(milestone("18m"), "milestone_reached_member", "es").text


def test_a_milestone_nobody_was_to_hear_of_stays_with_the_member() -> None:
    assert who(milestone("90d", "nobody", ())) == [
        (MEMBER, "milestone_reached_member", "milestones", "normal")
    ]
    # Even if the event named someone, "nobody" means nobody.
    assert [m.recipient_id for m in catalogue.messages(milestone("90d", "nobody", ("g1",)))] == [MEMBER]


def test_the_group_hears_each_once_and_the_member_is_not_told_as_a_group_member() -> None:
    messages = catalogue.messages(milestone("1y", "group", ("g1", "g2", MEMBER, "g1")))
    assert [(m.recipient_id, m.template) for m in messages] == [
        (MEMBER, "milestone_reached_member"),
        ("g1", "milestone_reached_shared"),
        ("g2", "milestone_reached_shared"),
    ]


def test_the_people_told_of_a_milestone_learn_the_milestone_and_nothing_else() -> None:
    mentor = words(milestone("6m", "mentor"), "milestone_reached_shared", "en")
    assert mentor.subject == "A person you mentor reached 6 months"
    group = words(milestone("2y", "group", ("g1",)), "milestone_reached_shared", "es")
    assert group.subject == "Un miembro de su grupo cumplió 2 años"
    for rendered in (mentor, group):
        shown = rendered.subject + rendered.text + rendered.html
        assert "2026" not in shown and "28" not in shown  # not the day it was reached


# ---- nobody is named --------------------------------------------------------------------------------


def test_a_mentoring_message_is_given_ids_of_matches_codes_and_times_only() -> None:
    for event in EXAMPLES:
        for message in catalogue.messages(event):
            assert set(message.context) <= ALLOWED_CONTEXT, (message.template, set(message.context))
            assert MEMBER not in message.link and MENTOR not in message.link and REQUEST not in message.link


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_every_mentoring_message_renders_and_names_nobody(event: Event, language: Language) -> None:
    for message in catalogue.messages(event):
        url = "https://x.test" + message.link
        rendered = render(message.template, language, {**message.context, "url": url}, zone="Europe/Madrid")
        assert rendered.subject and "\n" not in rendered.subject
        assert url in rendered.text and f'href="{url}"' in rendered.html
        for part in (rendered.subject, rendered.text, rendered.html):
            assert MEMBER not in part and MENTOR not in part and REQUEST not in part


def test_links_go_to_the_member_page_or_the_mentors_page_at_the_match() -> None:
    links: dict[str, set[str]] = {}
    for event in EXAMPLES:
        for message in catalogue.messages(event):
            links.setdefault(message.template, set()).add(message.link)
    assert links["match_proposed_mentor"] == {"/mentoring/pages/mentor#match-x1"}
    assert links["check_in_overdue_mentor"] == {"/mentoring/pages/mentor#match-x1"}
    assert links["mentee_drifting"] == {"/mentoring/pages/mentor#match-x1"}
    assert links["match_ended_mentor"] == {"/mentoring/pages/mentor"}
    assert links["match_withdrawn_mentor"] == {"/mentoring/pages/mentor"}
    assert links["milestone_reached_shared"] == {"/mentoring/pages/mentor", "/notifications/inbox"}
    for template in ("match_proposed_member", "match_accepted_member", "match_searching_member",
                     "match_ended_member", "check_in_due_member", "milestone_reached_member"):  # fmt: skip
        assert links[template] == {"/mentoring/pages/me"}


def test_a_crisis_alert_request_is_for_crisis_not_for_people() -> None:
    data = CrisisAlertRequestedData(member_id=MEMBER, requested_by=MENTOR)
    assert catalogue.messages(made(CrisisAlertRequested, data)) == []


def test_every_template_exists_in_every_language() -> None:
    names = {language: {p.stem for p in (TEMPLATES / language).glob("*.jinja")} for language in LANGUAGES}
    assert all(names[language] == names["en"] for language in LANGUAGES), names
    assert {entry.template for entry in catalogue.CATALOGUE} <= names["en"]
