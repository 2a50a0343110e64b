"""Every service refuses an oversized request body with 413 problem details; OTLP takes uploads."""

import httpx
import pytest

from deploy.local.stack import Stack
from deploy.local.topology import SERVICES
from shared.auth.principal import Role
from tests.conftest import Tokens

pytestmark = pytest.mark.e2e

FIVE_MB = b"{" + b" " * (5 * 1024 * 1024) + b"}"
# Routes with a limit of their own: tested below, and the feed upload in test_meetings_feed.py.
UPLOADS = {"/v1/traces", "/meetings/import"}


async def test_every_route_that_takes_a_body_refuses_five_megabytes(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    admin = tokens("limits-admin", "org-a", *Role)
    refused = []
    for spec in SERVICES:
        base = network.url(spec.name)
        paths = (await http.get(f"{base}/openapi.json")).json()["paths"]
        for path, operations in paths.items():
            for method, operation in operations.items():
                if "requestBody" not in operation or path in UPLOADS:
                    continue
                url = base + path.replace("{", "").replace(
                    "}", ""
                )  # any id will do: the body is refused first
                r = await http.request(
                    method, url, content=FIVE_MB, headers={**admin, "content-type": "application/json"}
                )
                assert r.status_code == 413, (spec.name, method, path, r.status_code)
                assert r.headers["content-type"] == "application/problem+json"
                refused.append(f"{method.upper()} {path}")
    assert "POST /meetings" in refused and "PUT /crisis/protocol" in refused


async def test_the_otlp_receiver_takes_uploads_up_to_its_own_limit(
    network: Stack, http: httpx.AsyncClient
) -> None:
    url = f"{network.url('insights')}/v1/traces"
    headers = {"authorization": f"Bearer {network.otlp_token}", "content-type": "application/x-protobuf"}
    r = await http.post(url, content=b"\xff" * (5 * 1024 * 1024), headers=headers)
    assert r.status_code == 400, (
        r.text
    )  # read and parsed (it is not a trace export), not refused for its size
    r = await http.post(url, content=b"\xff" * (9 * 1024 * 1024), headers=headers)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
