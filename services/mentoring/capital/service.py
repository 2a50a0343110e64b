"""Recovery capital use cases: a member's BARC-10 responses and trend, the organization's wording of
the items, and its aggregates."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.mentoring.capital import model, store
from services.mentoring.capital.model import Response, Wording
from services.mentoring.service import utcnow as utcnow  # the routes take the time from here
from services.mentoring.store import Db
from shared.http import Problem
from shared.revisions import change


@dataclass(frozen=True)
class History:
    responses: list[Response]  # oldest first
    trend: model.Trend | None
    due_on: dt.date | None  # None: the intake is due
    due_now: bool


def _history(responses: list[Response], interval_days: int, now: datetime) -> History:
    due = model.due_on(responses, interval_days)
    return History(responses, model.trend(responses), due, due is None or now.date() >= due)


async def respond(
    db: Db, org: str, member_id: str, answers: Sequence[object], interval_days: int, now: datetime
) -> tuple[Response, History]:
    """Record the member's response (a 422 unless exactly ten answers 1-6); counted or not, by
    model.respond."""
    try:
        model.validated(answers)
    except model.InvalidAnswers as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from None  # says which item, never the answers
    doc = await store.member_or_new(db, org, member_id)

    def add(current: store.Document) -> dict[str, list[store.Document]]:
        response = model.respond(store.history(current), answers, now, interval_days)
        return {"responses": [store.response_doc(response)]}

    written = await change(store.responses(db), doc["_id"], lambda _: {"updated_at": now}, push=add)
    assert written is not None  # created above; a member's history is never deleted
    responses = store.history(written)
    return responses[-1], _history(responses, interval_days, now)


async def member_history(db: Db, org: str, member_id: str, interval_days: int, now: datetime) -> History:
    return _history(store.history(await store.member(db, org, member_id)), interval_days, now)


async def org_report(db: Db, org: str, min_group: int, now: datetime) -> model.Report:
    """The organization's figures per closed quarter (model.report says why no one member shows)."""
    return model.report(await store.histories(db, org), min_group, now)


async def set_wording(db: Db, org: str, wordings: list[Wording], now: datetime) -> list[Wording]:
    await store.save_wording(db, org, wordings, now)
    return wordings


async def questionnaire(db: Db, org: str, lang: str | None) -> model.Questionnaire:
    return model.questionnaire(await store.wordings(db, org), lang)
