"""Running one service as a process: `python -m services.<name>`.

A stopping process (SIGTERM, as a rolling deploy sends) ends its open server-sent event streams at
once. uvicorn waits for open responses up to its graceful time-out, and a stream never ends by
itself: with one responder's console open, crisis took 10 s to stop and the stream was then cut
mid-response. Ended cleanly, the page reconnects (`retry: 1000`) with Last-Event-ID to a process that
is not stopping, and misses nothing.
"""

import asyncio
import socket
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
EVENT_STREAM = b"text/event-stream"


def serve(create_app: Callable[[S], FastAPI], settings: S) -> None:
    stopping = asyncio.Event()
    config = uvicorn.Config(
        EndStreamsWhenStopping(create_app(settings), stopping),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,  # access logs would carry paths with ids of people; traces carry what we need
        timeout_graceful_shutdown=10,
    )
    Server(config, stopping).run()


class Server(uvicorn.Server):
    """uvicorn, setting `stopping` when a signal tells it to stop."""

    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        super().__init__(config)
        self.stopping = stopping
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.loop is not None:
            # A signal handler runs between two steps of the loop's own code: hand it the change.
            self.loop.call_soon_threadsafe(self.stopping.set)


class EndStreamsWhenStopping:
    """ASGI middleware: once `stopping` is set, a server-sent event stream is told its client left (so
    the route's generator stops and cleans up) and its response ends. Other requests are left to
    finish as usual."""

    def __init__(self, app: ASGIApp, stopping: asyncio.Event) -> None:
        self.app, self.stopping = app, stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        streaming = ended = False

        async def watched_send(message: Message) -> None:
            nonlocal streaming, ended
            if message["type"] == "http.response.start":
                streaming = any(
                    name.lower() == b"content-type" and value.startswith(EVENT_STREAM)
                    for name, value in message.get("headers", [])
                )
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
            await send(message)

        async def receive_or_stop() -> Message:
            received = asyncio.ensure_future(receive())
            stop = asyncio.ensure_future(self.stopping.wait())
            try:
                await asyncio.wait({received, stop}, return_when=asyncio.FIRST_COMPLETED)
                if received.done() or not streaming:
                    return await received
            except BaseException:  # cancelled: the route stopped listening
                received.cancel()
                raise
            finally:
                stop.cancel()
            received.cancel()
            return {"type": "http.disconnect"}

        await self.app(scope, receive_or_stop, watched_send)
        if streaming and not ended and self.stopping.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
