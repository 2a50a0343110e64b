"""The docs pages load every script and style from the service itself, never from a CDN."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from shared import docs

# Every address a page makes the browser load: src= and href= attributes, and Swagger UI's document url.
_LOADED = re.compile(r"""(?:src|href)="([^"]+)"|\burl: '([^']+)'""")


def loaded_urls(html: str) -> list[str]:
    return [a or b for a, b in _LOADED.findall(html)]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    if not docs.ASSETS.is_dir():
        pytest.fail(f"{docs.ASSETS} is missing: `make install` fetches the docs assets")
    app = FastAPI(title="Recovery Network: probe")
    docs.serve_docs(app)
    broker = NatsBroker()
    broker.subscriber("rn.*.meetings.scheduled.v2")(lambda body: None)
    docs.serve_asyncapi_viewer(app, AsyncAPI(broker, title=app.title))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service") as http:
        yield http


@pytest.mark.parametrize("page", ["/docs", "/asyncapi/"])
async def test_a_docs_page_loads_only_local_files_that_answer(client: httpx.AsyncClient, page: str) -> None:
    answer = await client.get(page)
    assert answer.status_code == 200
    urls = loaded_urls(answer.text)
    assert len(urls) >= 2, answer.text  # at least the viewer's script and its styles
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert (await client.get(url)).status_code == 200, url


async def test_the_redoc_page_which_only_works_from_a_cdn_is_gone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404
