"""A three-node nats-server cluster, every stream at three replicas, as in production (deploy/nats).

Two replicas of every service share a load while one node is killed and comes back, and one replica
each of crisis and notifications dies for good. Nothing accepted is lost or doubled.
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
# 50 s of load (with the single node's 500, the 1,000 alerts issue 8 asks of the suite): the node and the
# replicas die in its first two thirds, the last third runs on what is left.
ALERTS, ALERTS_PER_SECOND = 500, 10.0
MENTOR_REQUESTS = 80
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


async def test_a_node_and_replicas_dying_under_load_lose_and_double_nothing(
    cluster: Stack, http_load: httpx.AsyncClient, rng: random.Random
) -> None:
    """Two replicas of every service share the load; one NATS node dies and comes back, and one
    replica each of crisis and notifications dies for good, its twin carrying on alone: the deadlines,
    the consumers, the answers. One scenario for both, so the suite pays for one drain, not two."""
    # Started side by side: each waits until its replica is healthy.
    starts = [asyncio.to_thread(cluster.start_replica, s.name, free_port()) for s in SERVICES]
    replicas = {key.split("@")[0]: key for key in await asyncio.gather(*starts)}
    target = Target(
        crisis=[cluster.url("crisis"), url_of(replicas["crisis"])],
        mentoring=[cluster.url("mentoring"), url_of(replicas["mentoring"])],
        orgs=("org-a", "org-b"),
    )
    node = Stack.nats_node(rng.randrange(NODES))
    for_good = [replicas["crisis"], replicas["notifications"]]
    victims = rng.sample([node, *for_good], 1 + len(for_good))
    load = await run(
        cluster,
        target,
        http_load,
        rng,
        victims,
        alerts=ALERTS,
        rate=ALERTS_PER_SECOND,
        mentor_requests=MENTOR_REQUESTS,
        kill_within=KILL_WITHIN,
        down=(2.0, 6.0),
        stay_down=for_good,
    )

    figures = await settled_figures(cluster, load, target.orgs)
    record(
        f"three-node NATS cluster, two replicas of every service: a node ({node}) killed and restarted,"
        " a crisis and a notifications replica killed for good",
        figures,
    )
    assert sorted(figures.processes_killed) == sorted(victims)
    assert figures.alerts_accepted == figures.alerts_sent == ALERTS
    assert figures.clean(), figures.problems
    # A process whose node died and that never reconnected would hide behind its twin's work: every
    # survivor must be connected to NATS and the store again.
    survivors = [cluster.url(s.name) for s in SERVICES] + [
        url_of(r) for r in replicas.values() if r not in for_good
    ]
    for url in survivors:
        health = await http_load.get(f"{url}/health")
        assert health.status_code == 200, (url, health.text)


def url_of(replica: str) -> str:
    """`crisis@8123` → its base URL."""
    return f"http://127.0.0.1:{replica.split('@')[1]}"
