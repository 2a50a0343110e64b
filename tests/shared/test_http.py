"""Errors answer and are documented as problem details; bodies over the limit are refused unread."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from pymongo.errors import ServerSelectionTimeoutError

from shared.http import PROBLEM_JSON, BodyLimit, ProblemDetails, install_problem_handlers

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


class Thing(BaseModel):
    name: str


def _documented_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    signed_in = Depends(HTTPBearer())

    @app.get("/public")
    async def list_public(limit: int = 10) -> list[int]:
        return []

    @app.put("/things/{thing_id}", dependencies=[signed_in], responses={409: {"description": "taken"}})
    async def update_thing(thing_id: str, body: Thing) -> Thing:
        return body

    @app.get("/health", responses={503: {"description": "down", "content": {"application/json": {}}}})
    async def get_health() -> dict[str, bool]:
        return {}

    @app.get("/directory", responses={503: {"model": ProblemDetails, "description": "still loading"}})
    async def get_directory() -> list[int]:
        return []

    return app


def _problems(operation: dict[str, Any], kind: str = "4") -> dict[str, Any]:
    return {
        status: response["content"]
        for status, response in operation["responses"].items()
        if status.startswith(kind)
    }


def test_each_operation_documents_the_problems_it_can_answer_as_problem_json() -> None:
    document = _documented_app().openapi()
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    update = _problems(document["paths"]["/things/{thing_id}"]["put"])
    assert update == {status: problem for status in ("400", "401", "403", "404", "409", "413", "422")}
    assert _problems(document["paths"]["/public"]["get"]) == {"422": problem}
    health = document["paths"]["/health"]["get"]["responses"]
    assert _problems(document["paths"]["/health"]["get"]) == {}
    assert health["503"]["content"] == {"application/json": {}}  # its checks, not a problem
    # A server error declared as a bare description, or with the problem model, is problem JSON too.
    assert _problems(document["paths"]["/things/{thing_id}"]["put"], "5") == {"503": problem}
    assert _problems(document["paths"]["/directory"]["get"], "5") == {"503": problem}
    schemas = document["components"]["schemas"]
    assert schemas["ProblemDetails"]["required"] == ["title", "status"]
    assert "HTTPValidationError" not in schemas


def test_the_document_is_completed_once_and_stays_the_same() -> None:
    app = _documented_app()
    first = app.openapi()
    assert app.openapi() is first and "ProblemDetails" in first["components"]["schemas"]


async def test_a_database_that_cannot_be_reached_answers_503_with_retry_after() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/cases")
    async def list_cases() -> list[str]:
        raise ServerSelectionTimeoutError("127.0.0.1:27018: connection refused")

    async with _client(app) as client:
        r = await client.get("/cases")
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["retry-after"] == "1" and "127.0.0.1" not in r.text
    assert "503" in app.openapi()["paths"]["/cases"]["get"]["responses"]
