"""Request bodies over the limit are refused with problem details, without being read whole."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request

from shared.http import BodyLimit, install_problem_handlers

LIMIT = 1024
UPLOAD_LIMIT = 8 * 1024


def _app(ran: list[str]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, default=LIMIT, paths={"/uploads": UPLOAD_LIMIT})

    @app.post("/things")
    async def create_thing(body: dict[str, Any]) -> int:
        ran.append("things")
        return len(body)

    @app.post("/uploads")
    async def create_upload(request: Request) -> int:
        ran.append("uploads")
        return len(await request.body())

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_body_declared_too_large_is_refused_before_the_route_runs() -> None:
    ran: list[str] = []
    async with _client(_app(ran)) as client:
        r = await client.post("/things", json={"text": "x" * LIMIT})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert (r.json()["status"], r.json()["instance"]) == (413, "/things")
    assert ran == []


async def test_a_streamed_body_is_refused_at_the_first_chunk_over_the_limit() -> None:
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(5000):  # 5 MB if it were all read
            pulled += 1
            yield b"x" * 1000

    ran: list[str] = []
    async with _client(_app(ran)) as client:
        r = await client.post("/uploads", content=chunks())  # chunked: no Content-Length
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert pulled == UPLOAD_LIMIT // 1000 + 1


async def test_bodies_within_their_paths_limit_reach_the_route() -> None:
    ran: list[str] = []
    async with _client(_app(ran)) as client:
        small = await client.post("/things", json={"a": 1})
        upload = await client.post("/uploads", content=b"x" * (UPLOAD_LIMIT - 1))
        too_big_here = await client.post("/things", content=b"x" * (UPLOAD_LIMIT - 1))
    assert (small.status_code, small.json()) == (200, 1)
    assert (upload.status_code, upload.json()) == (200, UPLOAD_LIMIT - 1)
    assert too_big_here.status_code == 413
    assert ran == ["things", "uploads"]
