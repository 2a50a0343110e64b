"""A steady load of crisis alerts and mentoring requests over HTTP, and processes killed under it.

The load behaves like a careful client: a request that gets no answer (the service was down, the
connection broke) is sent again, to the next replica if there are several, until it is answered.
Repeating an alert is safe by design: each alert comes from its own member, and a member's second
alert merges into their open case. An alert counts as accepted only once it got a 2xx.
"""

import asyncio
import functools
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import httpx

from contracts.ids import new_id
from deploy.local.stack import Stack
from shared.auth.principal import Role
from tests.conftest import Tokens

RETRY_PAUSE = 0.5  # between attempts of one request; a restart takes seconds, so this is plenty
GIVE_UP_AFTER = 120.0  # per request: longer than any outage a run causes
IMMINENT_SHARE = 0.2  # imminent alerts start at level 2, so both ladders are exercised


@dataclass
class Alert:
    member: str
    org: str
    severity: str
    attempts: int = 0
    case_id: str | None = None  # set by the first 2xx
    last_failure: str = ""


@dataclass
class MentorRequest:
    member: str
    org: str
    attempts: int = 0
    answered: bool = False
    match_id: str | None = None  # set when the answer proposed a mentor


@dataclass
class Load:
    alerts: list[Alert] = field(default_factory=list)
    requests: list[MentorRequest] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """Where the load goes: the base URLs of every replica of crisis and of mentoring."""

    crisis: Sequence[str]
    mentoring: Sequence[str]
    orgs: tuple[str, ...]


@dataclass
class Answer:
    attempts: int = 0
    response: httpx.Response | None = None  # the first 2xx
    last_failure: str = ""


async def _post_until_answered(
    client: httpx.AsyncClient,
    urls: Sequence[str],
    path: str,
    body: dict[str, object],
    headers: dict[str, str],
    first: int,
) -> Answer:
    """POST until a 2xx, starting at replica `first` and moving to the next after each failure."""
    give_up = time.monotonic() + GIVE_UP_AFTER
    answer = Answer()
    while time.monotonic() < give_up:
        url = urls[(first + answer.attempts) % len(urls)]
        answer.attempts += 1
        try:
            r = await client.post(f"{url}{path}", json=body, headers=headers)
            if r.is_success or r.status_code == 409:  # 409: an earlier attempt landed
                answer.response = r
                return answer
            answer.last_failure = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:  # refused, reset or timed out: the process died under us
            answer.last_failure = repr(exc)
        await asyncio.sleep(RETRY_PAUSE)
    return answer


async def _alert(client: httpx.AsyncClient, target: Target, tokens: Tokens, alert: Alert, n: int) -> None:
    headers = tokens(alert.member, alert.org, Role.MEMBER)
    answer = await _post_until_answered(
        client, target.crisis, "/crisis/alerts", {"severity": alert.severity}, headers, first=n
    )
    alert.attempts, alert.last_failure = answer.attempts, answer.last_failure
    if answer.response is not None:
        alert.case_id = answer.response.json()["id"]


async def _request_mentor(
    client: httpx.AsyncClient, target: Target, tokens: Tokens, request: MentorRequest, n: int
) -> None:
    headers = tokens(request.member, request.org, Role.MEMBER)
    answer = await _post_until_answered(client, target.mentoring, "/mentoring/requests", {}, headers, first=n)
    request.attempts = answer.attempts
    if answer.response is not None:
        request.answered = True
        # A retry whose first attempt landed meets that request (409). Its answer never arrived, so it
        # promised no match: the member's proposal may be one whose writer died before the mentor's slot
        # was claimed (never published, by design; the claim check proposes again).
        if answer.response.status_code != 409:
            request.match_id = (answer.response.json().get("proposal") or {}).get("match_id")


async def send_alerts(
    client: httpx.AsyncClient,
    target: Target,
    tokens: Tokens,
    load: Load,
    *,
    count: int,
    rate: float,
    rng: random.Random,
) -> None:
    """`count` alerts at `rate` per second, open loop: a slow answer does not slow the ones after it."""
    started = time.monotonic()
    pending = []
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        severity = "imminent" if rng.random() < IMMINENT_SHARE else "high"
        alert = Alert(member=f"fault-{new_id()}", org=target.orgs[n % len(target.orgs)], severity=severity)
        load.alerts.append(alert)
        pending.append(asyncio.create_task(_alert(client, target, tokens, alert, n)))
    await asyncio.gather(*pending)


async def request_mentors(
    client: httpx.AsyncClient, target: Target, tokens: Tokens, load: Load, *, count: int, rate: float
) -> None:
    started = time.monotonic()
    pending = []
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        request = MentorRequest(member=f"mentee-{new_id()}", org=target.orgs[n % len(target.orgs)])
        load.requests.append(request)
        pending.append(asyncio.create_task(_request_mentor(client, target, tokens, request, n)))
    await asyncio.gather(*pending)


def restarter(stack: Stack, name: str) -> Callable[[], object]:
    """How a killed process comes back: on its own port, with its own data."""
    if name == "docstore":
        return stack.start_docstore
    if name == "nats" or name.startswith("nats-"):
        return functools.partial(stack.start_nats_node, 0 if name == "nats" else int(name.split("-")[1]))
    if "@" in name:  # a replica, `service@port`
        service, port = name.split("@")
        return functools.partial(stack.start_replica, service, int(port))
    return functools.partial(stack.start_service, name)


async def kill_in_turn(
    stack: Stack,
    names: Sequence[str],
    load: Load,
    *,
    window: float,
    rng: random.Random,
    down: tuple[float, float] = (0.5, 2.0),
    stay_down: Collection[str] = (),
) -> None:
    """kill -9 each process once, at a random moment of its share of `window`, and restart it (unless
    it is in `stay_down`: a twin carries on without it).

    A restart waits until the process is healthy (seconds, on a busy machine), in a thread: the load
    and the next kill go on meanwhile, so two processes may be down at once.
    """
    slot = window / len(names)
    started = time.monotonic()

    async def kill_and_restart(name: str, at: float, downtime: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        stack.kill(name)
        load.killed.append(name)
        killed_at = time.monotonic()
        print(f"killed {name} at +{killed_at - started:.1f}s")
        if name not in stay_down:
            await asyncio.sleep(downtime)
            await asyncio.to_thread(restarter(stack, name))
            print(f"{name} back after {time.monotonic() - killed_at:.1f}s")

    # Drawn up front, so a seed replays the same moments whatever order the tasks run in.
    plan = [
        (name, started + n * slot + rng.uniform(0, slot / 2), rng.uniform(*down))
        for n, name in enumerate(names)
    ]
    await asyncio.gather(*(kill_and_restart(*step) for step in plan))


async def run(
    stack: Stack,
    target: Target,
    http: httpx.AsyncClient,
    rng: random.Random,
    victims: Sequence[str],
    *,
    alerts: int,
    rate: float,
    mentor_requests: int,
    kill_within: float = 1.0,
    down: tuple[float, float] = (0.5, 2.0),
    stay_down: Collection[str] = (),
) -> Load:
    """`alerts` at `rate` and mentoring requests beside them, with `victims` killed in turn over the first
    `kill_within` share of the load; returns once every request is answered and every victim is back."""
    load, tokens, window = Load(), Tokens(stack), alerts / rate
    traffic = asyncio.gather(
        send_alerts(http, target, tokens, load, count=alerts, rate=rate, rng=rng),
        request_mentors(http, target, tokens, load, count=mentor_requests, rate=mentor_requests / window),
    )
    try:
        await kill_in_turn(
            stack, victims, load, window=window * kill_within, rng=rng, down=down, stay_down=stay_down
        )
        await traffic
    finally:
        traffic.cancel()
    return load
