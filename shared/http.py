"""HTTP plumbing: RFC 9457 problem details for every error (answered and documented), and a size limit
on request bodies."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import ConnectionFailure
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise from a route or use case to answer with a problem-details body."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


class NotFound(Problem):
    """Also what a caller from another organization gets: we never confirm a record exists."""

    def __init__(self, what: str = "resource") -> None:
        super().__init__(404, "Not Found", f"{what} not found")


def problem_response(
    request: Request, status: int, title: str, detail: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error answer."""

    model_config = ConfigDict(extra="allow")  # a problem may say more (RFC 9457 extension members)

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="what is invalid, and where (422)")


def install_problem_handlers(app: FastAPI) -> None:
    """Every error answers with problem details, and the OpenAPI document says so for every route."""
    document_problems(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Report where and what, never the submitted value: it may be personal data.
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            request, 422, "Unprocessable Content", "the request is not valid", errors=errors
        )

    @app.exception_handler(ConnectionFailure)
    async def _database_down(request: Request, exc: ConnectionFailure) -> JSONResponse:
        # The store restarting (or a failover) is a moment's outage, not a server error: ask to retry.
        response = problem_response(request, 503, "Service Unavailable", "the database is not reachable")
        response.headers["retry-after"] = "1"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        response = problem_response(request, exc.status_code, title, detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response


class BodyTooLarge(StarletteHTTPException):
    """An HTTP exception, so that FastAPI lets it through its body parsing to the problem handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit} bytes")


class BodyLimit:
    """Refuses a request body over `default` bytes (or over its path's own limit in `paths`) with 413.

    A declared Content-Length over the limit is refused before the route runs; a body without one, or
    longer than it said, is counted as it streams in and refused at the first byte over: an oversized
    body is never held in memory whole.
    """

    def __init__(self, app: ASGIApp, *, default: int, paths: Mapping[str, int]) -> None:
        self.app, self.default, self.paths = app, default, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _problem(BodyTooLarge(limit), scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


async def _problem(exc: StarletteHTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    response = problem_response(request, exc.status_code, HTTPStatus(exc.status_code).phrase, exc.detail)
    await response(scope, receive, send)


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetails"}


def document_problems(app: FastAPI) -> None:
    """Add to each operation of the OpenAPI document the problems it can answer, as problem+json.

    Read from the operation itself, so a new route is documented without anyone remembering to:
    every route may answer 503, security means 401 and 403, parameters or a body 422, a path
    parameter 404, a body 400 and 413. Any other error a route declares in `responses` (409, say)
    gets the problem+json content too.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()  # FastAPI keeps it, so it is completed once, in place
        if fresh:
            _add_problems(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problems(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ProblemDetails"] = ProblemDetails.model_json_schema()
    # FastAPI's own 422 schema describes its default answer, which ours replace.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in {str(s) for s in _problems_of(operation)} - set(responses):
                responses[status] = {}
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and (int(status) < 500 or not _own_body(response)):
                    response.setdefault("description", HTTPStatus(int(status)).phrase)
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}


def _own_body(response: dict[str, Any]) -> bool:
    """A server error a route documents with a body of its own (/health answers 503 with its checks).
    Every other error answer is problem details, whatever the route wrote: a `model=ProblemDetails`
    would otherwise be documented as application/json, a bare description as no body at all."""
    return any(media.get("schema") != PROBLEM_SCHEMA for media in response.get("content", {}).values())


def _problems_of(operation: dict[str, Any]) -> list[int]:
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    statuses = [503]  # the database (or NATS) is not reachable for a moment
    if operation.get("security"):
        statuses += [401, 403]
    if any(p.get("in") == "path" for p in parameters):
        statuses.append(404)
    if body:
        statuses += [400, 413]  # 400: a body that is not even text (FastAPI's answer to bytes not UTF-8)
    if parameters or body:
        statuses.append(422)
    return statuses
