"""A three-node nats-server cluster, every stream at three replicas, as in production (deploy/nats).

One node is killed under load and comes back; then two replicas of every service share the load
while one replica each of crisis and notifications dies for good. Nothing accepted is lost or doubled.
Both tests use the same network, each with organizations of its own.
"""

import asyncio
import random
from collections.abc import Iterator

import httpx
import nats
import pytest

from deploy.local.stack import Stack, free_port
from deploy.local.topology import SERVICES
from tests.fault.conftest import discard, record, settled_figures, start_network
from tests.fault.load import Target, run

pytestmark = pytest.mark.fault

NODES = 3
# 15 s of load: a node (or the replicas) dies in its first 10 s, the last third runs on what is left.
ALERTS, ALERTS_PER_SECOND = 150, 10.0
MENTOR_REQUESTS = 24
KILL_WITHIN = 2 / 3  # of the load: its last third runs on what is left


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_network(tmp_path_factory.mktemp("cluster"), "cluster", nats_nodes=NODES)
    yield stack
    discard(stack)


async def test_the_crisis_and_notification_streams_keep_three_replicas(cluster: Stack) -> None:
    nc = await nats.connect(cluster.nats_urls, user="admin", password=cluster.passwords["admin"])
    try:
        for stream in ("CRISIS", "NOTIFICATIONS"):
            info = await nc.jetstream().stream_info(stream)
            assert info.config.num_replicas == NODES
            assert info.cluster is not None and len(info.cluster.replicas or []) == NODES - 1
    finally:
        await nc.close()


async def test_killing_a_nats_node_under_load_loses_and_doubles_nothing(
    cluster: Stack, http_load: httpx.AsyncClient, rng: random.Random
) -> None:
    target = Target(crisis=[cluster.url("crisis")], mentoring=[cluster.url("mentoring")], orgs=("org-a",))
    node = Stack.nats_node(rng.randrange(NODES))
    load = await run(
        cluster,
        target,
        http_load,
        rng,
        [node],
        alerts=ALERTS,
        rate=ALERTS_PER_SECOND,
        mentor_requests=MENTOR_REQUESTS,
        kill_within=KILL_WITHIN,
        down=(2.0, 6.0),
    )

    figures = await settled_figures(cluster, load, target.orgs)
    record(f"three-node NATS cluster: one node ({node}) killed", figures)
    assert figures.processes_killed == [node]
    assert figures.alerts_accepted == figures.alerts_sent == ALERTS
    assert figures.clean(), figures.problems


async def test_two_replicas_of_every_service_escalate_and_notify_once(
    cluster: Stack, http_load: httpx.AsyncClient, rng: random.Random
) -> None:
    # Started side by side: each waits until its replica is healthy.
    starts = [asyncio.to_thread(cluster.start_replica, s.name, free_port()) for s in SERVICES]
    replicas = {key.split("@")[0]: key for key in await asyncio.gather(*starts)}
    target = Target(
        crisis=[cluster.url("crisis"), url_of(replicas["crisis"])],
        mentoring=[cluster.url("mentoring"), url_of(replicas["mentoring"])],
        orgs=("org-b", "org-c"),
    )
    # Each dies under load, and its twin carries on alone: the deadlines, the consumers, the answers.
    victims = [replicas["crisis"], replicas["notifications"]]
    load = await run(
        cluster,
        target,
        http_load,
        rng,
        rng.sample(victims, len(victims)),
        alerts=ALERTS,
        rate=ALERTS_PER_SECOND,
        mentor_requests=MENTOR_REQUESTS,
        kill_within=KILL_WITHIN,
        restart=False,
    )

    figures = await settled_figures(cluster, load, target.orgs)
    record(
        "three-node NATS cluster, two replicas of every service: a crisis and a notifications replica killed",
        figures,
    )
    assert sorted(figures.processes_killed) == sorted(victims)
    assert figures.alerts_accepted == figures.alerts_sent == ALERTS
    assert figures.clean(), figures.problems


def url_of(replica: str) -> str:
    """`crisis@8123` → its base URL."""
    return f"http://127.0.0.1:{replica.split('@')[1]}"
