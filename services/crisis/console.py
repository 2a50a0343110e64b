"""The responder console: a page, and a live stream of crisis events (server-sent events).

The stream reads the crisis JetStream stream itself, so each event's SSE id is its stream
sequence: a client that reconnects with `Last-Event-ID` resumes exactly after the last event it
saw, including whatever happened while it was away.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from contracts.crisis import CrisisEscalated
from contracts.subjects import stream_name
from services.crisis.deps import CaseDirectory, CurrentNetwork, Db, Responder, deactivated
from shared.auth.principal import Principal, Role
from shared.http import NotFound

router = APIRouter(tags=["console"])
PAGES = Path(__file__).with_name("pages")
# Every asset of the page is served from here: no CDN, nothing fetched from elsewhere.
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
# The page runs only its own script, is framed by nobody, and posts forms only here.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
KEEP_ALIVE_SECONDS = 15.0
WAITING_EVENTS = 1000


@router.get("/crisis/console", response_class=HTMLResponse, include_in_schema=False)
async def read_console() -> HTMLResponse:
    """The responder console page; without a session it sends the person to sign in."""
    return HTMLResponse((PAGES / "console.html").read_text(), headers=PAGE_HEADERS)


@router.get("/crisis/console/assets/{name}", include_in_schema=False)
async def read_console_asset(name: str) -> FileResponse:
    """The page's script and stylesheet."""
    if name not in ASSETS:
        raise NotFound("asset")
    return FileResponse(PAGES / name, media_type=ASSETS[name])


@router.get("/crisis/console/events", responses={200: {"content": {"text/event-stream": {}}}})
async def stream_events(
    request: Request,
    caller: Responder,
    db: Db,
    network: CurrentNetwork,
    directory: CaseDirectory,
    last_event_id: Annotated[str | None, Header(pattern=r"^[0-9]{1,19}$")] = None,
) -> StreamingResponse:
    """Crisis events of the caller's organization (a regional team: escalations that reached it), live,
    until the caller's token expires."""
    connection: Client = request.app.state.broker.connection
    staff = caller.has_any(Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN)
    subject = f"rn.{caller.org}.crisis.>" if staff else CrisisEscalated.subject_pattern()
    config = (
        ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=int(last_event_id) + 1)
        if last_event_id
        else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    )
    # Bounded, so a stalled client cannot grow it without end: beyond it, events wait in the NATS
    # subscription's own bounded queue.
    waiting: asyncio.Queue[Msg] = asyncio.Queue(maxsize=WAITING_EVENTS)
    sub = await connection.jetstream().subscribe(
        subject, stream=stream_name("crisis"), ordered_consumer=True, config=config, cb=waiting.put
    )

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        try:
            while not await request.is_disconnected():
                # The stream lives as long as the token that opened it: after that the page must renew
                # (or sign in again) and reconnect with Last-Event-ID, so a session that ended reads nothing.
                # Nor does it outlive the person's place on the staff: a deactivated responder's page
                # reconnects, and is refused.
                left = _seconds_left(caller)
                if left <= 0 or await deactivated(directory, db, network, caller):
                    break
                try:
                    first = await asyncio.wait_for(waiting.get(), min(KEEP_ALIVE_SECONDS, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                # All that is already waiting goes out in one write. Taken one at a time, each event
                # cost several turns of the event loop, and under load (100 alerts/s) the console
                # fell seconds behind the events it was sent.
                batch = [first, *(waiting.get_nowait() for _ in range(waiting.qsize()))]
                frames = "".join(frame for msg in batch if (frame := _frame(msg, caller, staff)))
                if frames:
                    yield frames
        finally:
            await sub.unsubscribe()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _seconds_left(caller: Principal) -> float:
    if caller.expires_at is None:
        return KEEP_ALIVE_SECONDS
    return (caller.expires_at - datetime.now(UTC)).total_seconds()


def _frame(msg: Msg, caller: Principal, staff: bool) -> str | None:
    body = json.loads(msg.data)
    if not staff:  # the regional team sees escalations of its regions that reached it, nothing else
        data = body.get("data", {})
        if data.get("catch_all") != "regional_team" or data.get("region") not in caller.regions:
            return None
    return f"id: {msg.metadata.sequence.stream}\nevent: {body['type']}\ndata: {json.dumps(body)}\n\n"
