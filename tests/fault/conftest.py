"""Fault tests run their own network (NATS, store, services on free ports): they kill nats-server,
which would break the session's stack for every other test.

Each network gets a fast crisis protocol in every organization (3 s per level, then the catch-all,
which waits an hour, so every case has a fixed ladder to count) and mentors with room for the
mentoring load. Tests sharing a network load organizations of their own and count only those.
Figures of every run are written to test-output/fault-figures.json.
"""

import asyncio
import json
import os
import random
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from deploy.local.stack import Stack, free_port
from deploy.local.topology import SERVICES
from shared.auth.principal import Role
from tests.conftest import OUTPUT, Tokens
from tests.fault.figures import Figures, arrived, count, snapshot
from tests.fault.load import Load

ORGS = ("org-a", "org-b", "org-c", "org-d")
NETWORK = {
    "regions": [{"id": "lakeshore", "name": "Lakeshore"}],
    "organizations": [
        {"id": org, "name": f"Organization {org[-1].upper()}", "region": "lakeshore"} for org in ORGS
    ],
}
LEVEL_MINUTES = 0.05  # 3 s
PROTOCOL = {
    "levels": [
        {"responder_ids": ["fault-r1"], "timeout_minutes": LEVEL_MINUTES},
        {"responder_ids": ["fault-r2"], "timeout_minutes": LEVEL_MINUTES},
    ],
    "catch_all": "coordinator",
    "catch_all_timeout_minutes": 60,
    "ack_timeout_minutes": 60,
}
STAFF = {"fault-r1": ["responder"], "fault-r2": ["responder"], "fault-coord": ["coordinator"]}
MENTORS = 12  # per organization, 10 mentees each
SERVICE_ENV = {
    # The relay is how events saved while NATS was away get out; a short round keeps runs short.
    "RN_OUTBOX_RELAY_INTERVAL_SECONDS": "5",
    # No spans: they are a sixth of an alert's CPU across the processes (made, exported, stored by
    # insights), and what these runs count is events and documents. The trace context still travels
    # in every message; what spans show is tested by the e2e and insights tests.
    "OTEL_TRACES_SAMPLER": "always_off",
}
FIGURES_FILE = OUTPUT / "fault-figures.json"
# After everything arrived, one more relay round and its grace could still publish a double.
LATE_DOUBLES_WAIT = 6.0


def start_network(
    data: Path,
    name: str,
    *,
    nats_nodes: int = 1,
    env: dict[str, str] | None = None,
    services: tuple[str, ...] = tuple(s.name for s in SERVICES),
) -> Stack:
    """NATS (one node, or a cluster), the store and `services` (all by default), on free ports, seeded
    for the load (crisis staff and protocols; mentors when mentoring runs)."""
    network_file = data / "network.json"
    network_file.write_text(json.dumps(NETWORK))
    logs = OUTPUT / "logs" / f"fault-{name}"
    shutil.rmtree(logs, ignore_errors=True)
    stack = Stack(
        data_dir=data,
        network_file=network_file,
        nats_port=free_port(),
        nats_cluster_ports=tuple(free_port() for _ in range(nats_nodes - 1)),
        docstore_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        log_dir=logs,
        env={**SERVICE_ENV, **(env or {})},
    )
    try:
        stack.start_nats()
        stack.start_docstore()
        asyncio.run(stack.provision())
        stack.start_services(list(services))
        seed(stack, mentors="mentoring" in services)
    except BaseException:
        stack.stop()
        raise
    return stack


def discard(stack: Stack) -> None:
    """kill -9 everything: the network and its data are thrown away, so a graceful stop only costs time."""
    for name in list(stack.procs):
        stack.kill(name)


def seed(stack: Stack, *, mentors: bool = True) -> None:
    tokens = Tokens(stack)
    with httpx.Client(timeout=30) as http:
        for org in ORGS:
            admin = tokens(f"{org}-admin", org, Role.ORG_ADMIN)
            crisis = stack.url("crisis")
            for person, roles in STAFF.items():
                http.put(
                    f"{crisis}/crisis/staff/{person}", json={"roles": roles}, headers=admin
                ).raise_for_status()
            http.put(f"{crisis}/crisis/protocol", json=PROTOCOL, headers=admin).raise_for_status()
            for n in range(MENTORS if mentors else 0):
                mentor = {"capacity": 10, "lived_experience": ["family"]}
                url = f"{stack.url('mentoring')}/mentors/{org}-mentor-{n}"
                http.put(url, json=mentor, headers=admin).raise_for_status()


@pytest.fixture
def rng() -> random.Random:
    """Random moments, reproducible: RN_FAULT_SEED replays a run (its seed is printed)."""
    seed_value = int(os.environ.get("RN_FAULT_SEED", random.randrange(1_000_000)))
    print(f"fault seed: RN_FAULT_SEED={seed_value}")
    return random.Random(seed_value)


@pytest.fixture
async def http_load() -> AsyncIterator[httpx.AsyncClient]:
    """A client with room for every retry in flight while a process is down."""
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=20.0, limits=limits) as client:
        yield client


async def settled_figures(
    stack: Stack, load: Load, orgs: tuple[str, ...], *, within: float = 120.0
) -> Figures:
    """The figures of `orgs` once all that was accepted has arrived (or `within` passed), and a late look."""
    started, done = time.monotonic(), False
    while time.monotonic() < started + within:
        if done := await arrived(stack, load, orgs):
            break
        await asyncio.sleep(1)
    print(f"{'settled' if done else 'NOT settled'} {time.monotonic() - started:.1f}s after the load")
    await asyncio.sleep(LATE_DOUBLES_WAIT)
    return count(await snapshot(stack, orgs), load)


def record(scenario: str, figures: Figures) -> None:
    """Keep the figures of each scenario for the README's reliability table."""
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(FIGURES_FILE.read_text()) if FIGURES_FILE.exists() else {}
    kept[scenario] = figures.as_dict()
    FIGURES_FILE.write_text(json.dumps(kept, indent=2))
    print(f"\n{scenario}: {json.dumps({k: v for k, v in figures.as_dict().items() if k != 'problems'})}")
