"""Recovery capital routes: the BARC-10 questionnaire, a member's responses and trend, the organization's
wording of the items and its aggregates.

A member's answers are theirs alone: no route shows them to their mentor, a coordinator or an admin.
The organization sees aggregates only, each over at least `barc_min_group` (>= 5) members.
"""

import datetime as dt
from typing import Annotated, Self

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator

from services.mentoring.capital import model, service
from services.mentoring.capital.model import Response, Wording
from services.mentoring.deps import Caller, Coordinator, Db, Member, MentoringSettings, OrgAdmin, problems
from shared.inputs import Strict, Text

router = APIRouter(tags=["recovery capital"])

Lang = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", description="e.g. en, es, pt-BR")]
ItemText = Annotated[Text, Field(min_length=1, max_length=400)]
ScaleLabel = Annotated[Text, Field(min_length=1, max_length=60)]
Answer = Annotated[int, Field(ge=model.LOWEST, le=model.HIGHEST)]


class WordingUpdate(Strict):
    lang: Lang
    items: list[ItemText] = Field(
        min_length=model.ITEMS, max_length=model.ITEMS, description="the ten items' texts, in order"
    )
    scale: list[ScaleLabel] | None = Field(
        default=None, min_length=6, max_length=6, description="labels of the answers 1 to 6"
    )


class WordingsUpdate(Strict):
    languages: list[WordingUpdate] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _each_language_once(self) -> Self:
        langs = [w.lang for w in self.languages]
        if len(set(langs)) != len(langs):
            raise ValueError("each language may be given once")
        return self


class WordingPublic(BaseModel):
    lang: str
    items: list[str]
    scale: list[str] | None


class Item(BaseModel):
    number: int
    text: str | None = Field(description="the organization's wording; null when it supplied none")


class QuestionnairePublic(BaseModel):
    lang: str | None
    items: list[Item]
    lowest: int = model.LOWEST
    highest: int = model.HIGHEST
    scale: list[str] | None = Field(description="labels of the answers lowest to highest, when supplied")
    languages: list[str] = Field(description="the languages your organization supplied")
    note: str | None


class ResponseCreate(Strict):
    answers: list[Answer] = Field(
        min_length=model.ITEMS,
        max_length=model.ITEMS,
        description="ten answers, items 1 to 10 in order, each 1-6",
    )


class ResponsePublic(BaseModel):
    answers: list[int]
    total: int = Field(description=f"{model.MIN_TOTAL}-{model.MAX_TOTAL}")
    taken_at: dt.datetime
    counted: bool = Field(
        description="the intake, or given when due; one given earlier is kept but starts no new period"
    )


class TrendPublic(BaseModel):
    first: int
    previous: int | None
    latest: int
    change_since_first: int
    change_since_previous: int | None


class HistoryPublic(BaseModel):
    responses: list[ResponsePublic] = Field(description="oldest first")
    trend: TrendPublic | None
    next_due_on: dt.date | None = Field(description="null: your first (intake) questionnaire is due")
    due_now: bool


class Recorded(BaseModel):
    response: ResponsePublic
    history: HistoryPublic


class FigurePublic(BaseModel):
    members: int | None = Field(description=f"rounded down to a multiple of {model.BAND}")
    mean: int | None = Field(description="whole points")
    median: int | None = Field(description="whole points")
    withheld: str | None = Field(description="why the figure is not shown")


class QuarterPublic(BaseModel):
    quarter: str = Field(description="a closed calendar quarter (UTC), e.g. 2025-Q1")
    intake: FigurePublic = Field(description="first totals of members whose intake was in the quarter")
    latest: FigurePublic = Field(description="the last counted follow-up in the quarter, per member")
    change: FigurePublic = Field(description="that follow-up minus the member's intake, same members")


class ReportPublic(BaseModel):
    min_group: int = Field(description="no figure is shown over fewer members")
    quarters: list[QuarterPublic] = Field(
        description="closed quarters only, newest first (the last two years): a closed quarter's figures "
        "never change, so comparing two reads cannot single out one member's answers"
    )


def _response(r: Response) -> ResponsePublic:
    return ResponsePublic(answers=list(r.answers), total=r.total, taken_at=r.taken_at, counted=r.counted)


def _history(h: service.History) -> HistoryPublic:
    t = h.trend
    return HistoryPublic(
        responses=[_response(r) for r in h.responses],
        trend=None
        if t is None
        else TrendPublic(
            first=t.first,
            previous=t.previous,
            latest=t.latest,
            change_since_first=t.since_first,
            change_since_previous=t.since_previous,
        ),
        next_due_on=h.due_on,
        due_now=h.due_now,
    )


def _figure(f: model.Figure) -> FigurePublic:
    return FigurePublic(members=f.members, mean=f.mean, median=f.median, withheld=f.withheld)


@router.put("/mentoring/settings/barc10", responses=problems({422: "not ten texts, or a language twice"}))
async def set_barc10_wording(body: WordingsUpdate, caller: OrgAdmin, db: Db) -> list[WordingPublic]:
    """Supply your organization's wording of the ten BARC-10 items, per language (replaces the last)."""
    wordings = [
        Wording(w.lang, tuple(w.items), None if w.scale is None else tuple(w.scale)) for w in body.languages
    ]
    saved = await service.set_wording(db, caller.org, wordings, service.utcnow())
    return [
        WordingPublic(lang=w.lang, items=list(w.items), scale=None if w.scale is None else list(w.scale))
        for w in saved
    ]


@router.get("/mentoring/barc10/questionnaire")
async def read_barc10_questionnaire(
    caller: Caller, db: Db, lang: Annotated[Lang | None, Query()] = None
) -> QuestionnairePublic:
    """The BARC-10 questionnaire in your organization's wording (item numbers alone if it gave none)."""
    q = await service.questionnaire(db, caller.org, lang)
    return QuestionnairePublic(
        lang=q.lang,
        items=[Item(number=n, text=text) for n, text in q.items],
        scale=None if q.scale is None else list(q.scale),
        languages=q.languages,
        note=q.note,
    )


@router.post("/mentoring/barc10", status_code=201, responses=problems({422: "not ten answers, each 1-6"}))
async def create_barc10_response(
    body: ResponseCreate, caller: Member, db: Db, settings: MentoringSettings
) -> Recorded:
    """Answer the BARC-10: ten answers, items in order, each 1 (strongly disagree) to 6 (strongly agree)."""
    response, history = await service.respond(
        db, caller.org, caller.sub, body.answers, settings.barc_interval_days, service.utcnow()
    )
    return Recorded(response=_response(response), history=_history(history))


@router.get("/mentoring/me/barc10")
async def read_my_barc10(caller: Member, db: Db, settings: MentoringSettings) -> HistoryPublic:
    """Your BARC-10 responses, how your total has moved, and when the next one is due."""
    found = await service.member_history(
        db, caller.org, caller.sub, settings.barc_interval_days, service.utcnow()
    )
    return _history(found)


@router.get("/mentoring/reports/barc10")
async def read_barc10_report(caller: Coordinator, db: Db, settings: MentoringSettings) -> ReportPublic:
    """Your organization's recovery capital per closed quarter: a figure over too few members is withheld."""
    r = await service.org_report(db, caller.org, settings.barc_min_group, service.utcnow())
    quarters = [
        QuarterPublic(
            quarter=q.quarter, intake=_figure(q.intake), latest=_figure(q.latest), change=_figure(q.change)
        )
        for q in r.quarters
    ]
    return ReportPublic(min_group=r.min_group, quarters=quarters)
