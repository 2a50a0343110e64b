"""Notifications HTTP routes: the inbox (and its live stream), contacts and preferences, and the SMS
provider's status callbacks."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import phonenumbers
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, EmailStr, Field, field_validator
from sse_starlette import EventSourceResponse, ServerSentEvent

from services.notifications import model, service
from services.notifications.channels import sms
from services.notifications.deps import Channels, CurrentSettings, Db, LiveHub, OrgAdmin, Publisher
from services.notifications.model import Category, Language, Person
from shared.auth.fastapi import CurrentPrincipal
from shared.http import NotFound, Problem
from shared.inputs import Strict, TimeOfDay, TimeZone
from shared.webhooks import WebhookPublic, WebhookUpdate

router = APIRouter(tags=["notifications"])
PersonalChannel = Literal["in_app", "email", "sms"]


class NotificationPublic(BaseModel):
    id: str
    category: str
    priority: str
    title: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


def _public(n: model.Notification, senders: service.Senders) -> NotificationPublic:
    """With its link absolute: it may open on another service than the one that serves the inbox."""
    public = NotificationPublic.model_validate(n, from_attributes=True)
    return public.model_copy(update={"link": senders.url(n.link)})


@router.get("/me/notifications")
async def list_my_notifications(
    caller: CurrentPrincipal,
    db: Db,
    senders: Channels,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    unread: bool = False,
) -> list[NotificationPublic]:
    """The caller's in-app inbox, newest first (a regional responder's includes their regions' cases)."""
    return [_public(n, senders) for n in await service.inbox(db, caller, limit, unread_only=unread)]


@router.get("/me/notifications/unread-count")
async def count_my_unread(caller: CurrentPrincipal, db: Db) -> UnreadCount:
    """How many of the caller's notifications are unread."""
    return UnreadCount(unread=await service.unread_count(db, caller))


@router.post("/me/notifications/read-all")
async def mark_all_read(caller: CurrentPrincipal, db: Db) -> MarkedRead:
    """Mark every unread notification of the caller read."""
    return MarkedRead(marked=await service.mark_all_read(db, caller, service.utcnow()))


@router.post("/me/notifications/{notification_id}/read", status_code=204)
async def mark_read(caller: CurrentPrincipal, db: Db, notification_id: str) -> Response:
    """Mark one of the caller's notifications read."""
    if not await service.mark_read(db, caller, notification_id, service.utcnow()):
        raise NotFound("Notification not found")
    return Response(status_code=204)


@router.get(
    "/me/notifications/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_my_notifications(
    request: Request,
    caller: CurrentPrincipal,
    db: Db,
    hub: LiveHub,
    senders: Channels,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-sent events: each new notification as it is written (event `notification`). A client
    that reconnects with Last-Event-ID gets what it missed, with the few seconds before it again
    (skip the ids you have: see service.LOOKBACK); without one, the last day's."""
    live = service.live(db, hub, caller, service.parse_cursor(last_event_id), request.is_disconnected)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for n in live:
            yield ServerSentEvent(
                data=_public(n, senders).model_dump_json(), event="notification", id=service.cursor(n)
            )

    return EventSourceResponse(events(), ping=15, send_timeout=30)


class AttemptPublic(BaseModel):
    channel: str
    attempt: int
    # cancelled: never sent, and `reason` says why (its recipient was taken off the crisis staff).
    outcome: Literal["delivered", "failed", "accepted", "cancelled"]
    reason: str | None
    at: datetime


@router.get("/org/notifications/{notification_id}/attempts")
async def list_delivery_attempts(admin: OrgAdmin, db: Db, notification_id: str) -> list[AttemptPublic]:
    """Every attempt to deliver one of the organization's notifications, on every channel, oldest first."""
    found = await service.attempts(db, admin.org, notification_id)
    if not found:  # also what another organization's admin gets: we never confirm it exists
        raise NotFound("No delivery attempts for this notification")
    return [AttemptPublic.model_validate(a) for a in found]


@router.put("/org/notifications/webhook")
async def update_notifications_webhook(
    admin: OrgAdmin, db: Db, settings: CurrentSettings, body: WebhookUpdate
) -> WebhookPublic:
    """Register the organization's HTTPS endpoint for all its notifications; returns a new signing secret."""
    allow_private = settings.webhook_allow_private_targets
    secret = await service.register_webhook(db, admin.org, body.url, allow_private=allow_private)
    return WebhookPublic(url=body.url, secret=secret)


@router.delete("/org/notifications/webhook", status_code=204)
async def delete_notifications_webhook(admin: OrgAdmin, db: Db) -> None:
    """Stop posting the organization's notifications to its endpoint."""
    await service.delete_webhook(db, admin.org)


# ---- contacts and preferences -------------------------------------------------------------------


class ContactPublic(BaseModel):
    email: str | None
    phone: str | None
    language: Language
    timezone: str


class ContactUpdate(Strict):
    email: EmailStr | None = None
    phone: str | None = Field(default=None, description="any format with a country code; kept as E.164")
    language: Language = "en"
    timezone: TimeZone = Field(default="UTC", description="an IANA time zone, e.g. America/Chicago")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number with a country code (+1 ...): {exc}") from exc
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class QuietHoursBody(Strict):
    start: TimeOfDay = Field(description="HH:MM in the person's time zone")
    end: TimeOfDay


class DigestBody(Strict):
    categories: list[Category] = Field(description="low-priority messages of these come once a day")
    hour: int = Field(ge=0, le=23, description="the hour it comes, in the person's time zone")


class PreferencesUpdate(Strict):
    channels: dict[Category, list[PersonalChannel]] = Field(
        default_factory=dict, description="per category, the channels wanted; crisis messages ignore it"
    )
    quiet_hours: QuietHoursBody | None = None
    digest: DigestBody | None = None


class PreferencesPublic(BaseModel):
    channels: dict[str, list[str]]
    quiet_hours: dict[str, str] | None
    digest: dict[str, Any] | None


def _contact(p: Person) -> ContactPublic:
    return ContactPublic(email=p.email, phone=p.phone, language=p.language, timezone=p.timezone)


def _preferences(p: Person) -> PreferencesPublic:
    return PreferencesPublic(
        channels={c: list(chs) for c, chs in p.channels.items()},
        quiet_hours={
            "start": p.quiet_hours.start.isoformat("minutes"),
            "end": p.quiet_hours.end.isoformat("minutes"),
        }
        if p.quiet_hours
        else None,
        digest={"categories": sorted(p.digest.categories), "hour": p.digest.hour} if p.digest else None,
    )


def _contact_changes(body: ContactUpdate) -> dict[str, Any]:
    return {"email": body.email, "phone": body.phone, "language": body.language, "timezone": body.timezone}


@router.get("/me/contact")
async def read_my_contact(caller: CurrentPrincipal, db: Db) -> ContactPublic:
    """Where the caller is reached: email, phone, language and time zone."""
    return _contact(await service.person_of(db, caller.org, caller.sub))


@router.put("/me/contact")
async def update_my_contact(caller: CurrentPrincipal, db: Db, body: ContactUpdate) -> ContactPublic:
    """Set where the caller is reached (the phone is kept in E.164)."""
    return _contact(await service.update_own(db, caller, **_contact_changes(body)))


@router.get("/me/preferences")
async def read_my_preferences(caller: CurrentPrincipal, db: Db) -> PreferencesPublic:
    """The caller's channels per category, quiet hours and digest."""
    return _preferences(await service.person_of(db, caller.org, caller.sub))


@router.put("/me/preferences")
async def update_my_preferences(
    caller: CurrentPrincipal, db: Db, body: PreferencesUpdate
) -> PreferencesPublic:
    """Set channels per category, quiet hours and the daily digest (crisis messages ignore all three)."""
    person = await service.update_own(
        db,
        caller,
        channels={category: tuple(chs) for category, chs in body.channels.items()},
        quiet_hours=model.QuietHours(body.quiet_hours.start, body.quiet_hours.end)
        if body.quiet_hours
        else None,
        digest=model.Digest(frozenset(body.digest.categories), body.digest.hour) if body.digest else None,
    )
    return _preferences(person)


@router.get("/org/people/{person_id}/contact", responses={404: {"description": "no record of them here"}})
async def read_staff_contact(admin: OrgAdmin, db: Db, person_id: str) -> ContactPublic:
    """An org admin reads where their organization reaches a person (404: it has no record of them)."""
    person = await service.recorded_person(db, admin.org, person_id)
    if person is None:
        raise NotFound("No contacts for this person in your organization")
    return _contact(person)


@router.put("/org/people/{person_id}/contact")
async def update_staff_contact(admin: OrgAdmin, db: Db, person_id: str, body: ContactUpdate) -> ContactPublic:
    """An org admin sets where their organization reaches a person (a responder's phone); the
    person's own settings in their organization win from then on, where they set them."""
    return _contact(await service.update_staff(db, admin, person_id, **_contact_changes(body)))


# ---- the SMS provider's status callbacks ------------------------------------------------------


@router.post(
    "/notifications/sms/status",
    status_code=204,
    responses={
        403: {"description": "not signed with the SMS provider's auth token"},
        404: {"description": "no such delivery"},
    },
)
async def receive_sms_status(
    request: Request, db: Db, publisher: Publisher, senders: Channels, settings: CurrentSettings,
    x_twilio_signature: Annotated[str, Header()],
    delivery: Annotated[str, Query(max_length=200, description="the delivery the callback is about")],
) -> Response:  # fmt: skip
    """The SMS provider says a message was delivered or failed (signed with the account's auth token)."""
    # Parsed here rather than with request.form(): a flat form is all a provider sends.
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    # Signed over the URL the provider was given, query included: the delivery id cannot be swapped.
    url = f"{settings.sms_status_url}?{request.url.query}"
    if not sms.verify(settings.sms_auth_token, url, form, x_twilio_signature):
        raise Problem(403, "Invalid signature", "the status callback is not signed by the SMS provider")
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or not status:
        raise Problem(422, "Invalid status callback", "MessageSid and MessageStatus are required")
    if not await service.sms_status(db, publisher, senders, delivery, sid, status, service.utcnow()):
        raise NotFound("Delivery not found")
    return Response(status_code=204)
