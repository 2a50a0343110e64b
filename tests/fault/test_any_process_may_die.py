"""kill -9 of every process in turn under load, on one nats-server: nothing accepted is lost or doubled.

Each service, the document store and nats-server itself die once, at a random moment, and come back
on the same port and data. The streams and the stores are then counted (tests/fault/figures.py).
"""

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local.stack import Stack
from tests.fault.conftest import discard, record, settled_figures, start_network
from tests.fault.load import Target, run

pytestmark = pytest.mark.fault

# 10/s is what 2 shared cores carry with three escalations per alert. 50 s of it puts each of the seven
# processes down under load, two at once at times (a restart takes 5-11 s here), and with the cluster's
# 2 x 250 makes the 1,000 alerts the fault suite promises (issue 8).
ALERTS, ALERTS_PER_SECOND = 500, 10.0
MENTOR_REQUESTS = 80
VICTIMS = ("crisis", "notifications", "mentoring", "meetings", "insights", "docstore", "nats")


@pytest.fixture
def single_node(tmp_path: Path) -> Iterator[Stack]:
    stack = start_network(tmp_path, "single-node")
    yield stack
    discard(stack)


async def test_killing_every_process_in_turn_under_load_loses_and_doubles_nothing(
    single_node: Stack, http_load: httpx.AsyncClient, rng: random.Random
) -> None:
    stack = single_node
    target = Target(crisis=[stack.url("crisis")], mentoring=[stack.url("mentoring")], orgs=("org-a", "org-b"))
    victims = rng.sample(VICTIMS, len(VICTIMS))
    load = await run(
        stack,
        target,
        http_load,
        rng,
        victims,
        alerts=ALERTS,
        rate=ALERTS_PER_SECOND,
        mentor_requests=MENTOR_REQUESTS,
    )

    figures = await settled_figures(stack, load, target.orgs)
    record("one nats-server: each service, the store and nats-server killed once", figures)
    assert sorted(figures.processes_killed) == sorted(VICTIMS)
    assert figures.alerts_accepted == figures.alerts_sent == ALERTS
    assert figures.cases == ALERTS
    assert figures.clean(), figures.problems
