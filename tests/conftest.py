"""Fixtures for tests on real infrastructure: nats-server, the document store, Mailpit and the local
SMS receiver on free ports.

They are started once per test session and torn down at its end. Set MONGODB_URL to run the
same tests against a real MongoDB instead of the local FerretDB store.
"""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.ids import new_id
from deploy.local.seed import DemoUser
from deploy.local.stack import REPO, Stack, free_port
from deploy.local.topology import SERVICES
from shared.auth.devkeys import mint_token
from shared.auth.principal import Role
from tests.helpers import Mailpit, SmsReceiver

OUTPUT = REPO / "test-output"

NETWORK = """{
  "regions": [{"id": "lakeshore", "name": "Lakeshore"}],
  "organizations": [
    {"id": "org-a", "name": "Organization A", "region": "lakeshore"},
    {"id": "org-b", "name": "Organization B", "region": "lakeshore"}
  ]
}"""


# Whom the console's sign-in page offers in tests (the stack's demo users); their crisis staff roles
# are put by the tests that need them.
DEMO_USERS = (
    DemoUser("a-responder-1", "org-a", (Role.RESPONDER,), "Org A responder 1"),
    DemoUser("a-responder-2", "org-a", (Role.RESPONDER,), "Org A responder 2"),
    DemoUser("a-coordinator", "org-a", (Role.COORDINATOR, Role.RESPONDER), "Org A coordinator"),
    DemoUser("a-admin", "org-a", (Role.ORG_ADMIN,), "Org A admin"),
    DemoUser("a-member", "org-a", (Role.MEMBER,), "Org A member"),
    DemoUser("b-responder", "org-b", (Role.RESPONDER,), "Org B responder"),
    DemoUser("lk-regional", "org-b", (Role.REGIONAL_RESPONDER,), "Lakeshore regional team", ("lakeshore",)),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests under tests/e2e are end-to-end; anything using the infra fixtures is integration.
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
        elif {"stack", "admin_nc"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """nats-server and the document store, provisioned, Mailpit and the SMS receiver; services are
    started by `network`."""
    data = tmp_path_factory.mktemp("stack")
    network_file = data / "network.json"
    network_file.write_text(NETWORK)
    logs = OUTPUT / "logs"
    # Webhook retries back off from 0.2 s instead of 2 s, so a test sees a delivery give up in seconds.
    os.environ.setdefault("RN_WEBHOOK_BACKOFF_BASE_SECONDS", "0.2")
    os.environ.setdefault("RN_WEBHOOK_MAX_ATTEMPTS", "3")
    shutil.rmtree(logs, ignore_errors=True)
    st = Stack(
        data_dir=data,
        network_file=network_file,
        nats_port=free_port(),
        docstore_port=free_port(),
        mailpit_smtp_port=free_port(),
        mailpit_http_port=free_port(),
        sms_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        log_dir=logs,
        # The tests' webhook receivers listen on this machine, which a deployment refuses to post to.
        # The services' environment only: in this process, settings tests would see it too.
        # Insights writes its rollups every half second, so a dashboard test waits for no longer.
        env={"RN_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "RN_ROLLUP_FLUSH_SECONDS": "0.5"},
        demo_users=DEMO_USERS,
    )
    try:
        st.start_nats()
        st.start_docstore()
        st.start_mailpit()
        st.start_sms_receiver()
        asyncio.run(st.provision())
        yield st
    finally:
        st.stop()


@pytest.fixture(scope="session")
def network(stack: Stack) -> Stack:
    """Every service running as its own process on the session's infrastructure."""
    if not all(name in stack.procs for name in (s.name for s in SERVICES)):
        stack.start_services()
    return stack


@pytest.fixture
async def admin_nc(stack: Stack) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
    yield nc
    await nc.close()


class Tokens:
    def __init__(self, stack: Stack) -> None:
        self._key = stack.private_key

    def __call__(self, sub: str, org: str, *roles: Role, regions: tuple[str, ...] = ()) -> dict[str, str]:
        token = mint_token(self._key, sub=sub, org=org, roles=list(roles), regions=list(regions))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def tokens(stack: Stack) -> Tokens:
    """Headers with a dev token: tokens("user-1", "org-a", Role.MEMBER)."""
    return Tokens(stack)


@pytest.fixture
async def scratch_db(stack: Stack) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A database of its own on the session's document store, dropped afterwards."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.database_url, tz_aware=True)
    name = f"rn_test_{new_id()[-8:]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
async def mailpit(stack: Stack, http: httpx.AsyncClient) -> Mailpit:
    """The session's Mailpit: `await mailpit.wait_for(to="a@example.org")`, `await mailpit.message(id)`.
    Shared by every test: look for your own addresses rather than counting everything."""
    return Mailpit(stack.mailpit_url, http)


@pytest.fixture
async def sms(stack: Stack, http: httpx.AsyncClient) -> AsyncIterator[SmsReceiver]:
    """The session's SMS receiver: its log (`await sms.wait_for("+15550001111")`) and fault controls
    (`fail_next`, `undeliverable`), reset after the test so no failure outlives it."""
    receiver = SmsReceiver(stack.sms_url, http)
    yield receiver
    await receiver.reset()
