"""Every service's docs pages work without internet: whatever they load, the service itself serves."""

import httpx
import pytest

from deploy.local.stack import Stack
from deploy.local.topology import SERVICES
from tests.shared.test_docs import loaded_urls

pytestmark = pytest.mark.e2e


async def test_every_docs_page_of_every_service_loads_only_what_the_service_serves(
    network: Stack, http: httpx.AsyncClient
) -> None:
    for service in SERVICES:
        base = network.url(service.name)
        pages = ["/docs"] + (["/asyncapi/"] if service.domain else [])
        for page in pages:
            answer = await http.get(f"{base}{page}")
            assert answer.status_code == 200, (service.name, page)
            urls = loaded_urls(answer.text)
            assert len(urls) >= 2, (service.name, page, answer.text)
            for url in urls:
                assert url.startswith("/") and not url.startswith("//"), (service.name, page, url)
                assert (await http.get(f"{base}{url}")).status_code == 200, (service.name, url)
