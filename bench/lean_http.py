"""Just enough HTTP/1.1 for a load generator: keep-alive connections to one server, no pool bookkeeping.

The load generator shares the two cores with the services it measures. httpx spent most of its time
in its connection pool (a scan of every connection for every request, measured with py-spy at 90%
of the generator's samples), so at 100 alerts/s the requests queued in the client, not the server.
Here a request takes an idle connection or opens one, so a slow answer never holds the next request.
"""

import asyncio
import json
import time
from typing import Any

# Uvicorn closes a connection idle for 5 s; one idle this long is dropped rather than reused half-closed.
MAX_IDLE_SECONDS = 3.0


class HttpError(Exception):
    pass


class Client:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post_json(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        """POST a JSON body; returns the status and the decoded JSON answer (None if empty)."""
        payload = json.dumps(body).encode()
        reader, writer = await self._connection()
        head = "".join(
            [
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n",
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n",
                *(f"{k}: {v}\r\n" for k, v in headers.items()),
                "\r\n",
            ]
        )
        try:
            writer.write(head.encode() + payload)
            status, length, close = await asyncio.wait_for(_read_head(reader), self.timeout)
            answer = await reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            writer.close()
            raise HttpError(repr(exc)) from exc
        if close:
            writer.close()
        else:
            self._idle.append((time.monotonic(), reader, writer))
        return status, json.loads(answer) if answer else None

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            since, reader, writer = self._idle.pop()
            if time.monotonic() - since < MAX_IDLE_SECONDS and not reader.at_eof():
                return reader, writer
            writer.close()
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise HttpError(repr(exc)) from exc

    def close(self) -> None:
        for _, _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int, bool]:
    """The status, the Content-Length and whether the server closes the connection after this answer."""
    status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
    length, close = 0, False
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        match name.strip().lower():
            case "content-length":
                length = int(value)
            case "connection":
                close = value.strip().lower() == "close"
            case "transfer-encoding":
                raise ValueError("chunked answers are not supported here")
    return status, length, close
