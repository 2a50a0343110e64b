"""Crisis: CPU per alert, latency, capacity and a surge, from an alert posted over HTTP to its
escalation on a connected responder console.

    make bench-crisis     (or: .venv/bin/python bench/crisis_latency.py --rates 50 --seconds 15)

Starts nats-server, the document store, and the crisis, notifications and insights services (each its
own process, as in `make run`) on free ports, then, in order:
  - timers: cases with a 3 s level, the time from each deadline to the level-2 escalation on the
    console; again with the crisis service killed (SIGKILL) and restarted before their deadlines;
  - CPU per alert: 600 alerts at 20/s, the CPU time of every process of the stack (from /proc)
    until the flow is quiet, less what they use idle (RN_BENCH_PROFILE=<dir> adds py-spy profiles,
    RN_BENCH_CPU_ONLY=1 stops after this);
  - for each `--rates`: alerts at that rate (open loop, each from a different member) for
    `--seconds`, timed until their level-1 escalation reaches the console; then raw nats-py
    request/reply at the same rate on the same server, the baseline;
  - capacity: the highest of 20, 40 ... 150/s at which alert-to-console p99 stays within 100 ms;
  - a surge: 30 s at three times the capacity (one alert in ten imminent, two high), with
    escalation timers of another organization meanwhile.
Every figure is written to bench/results/crisis_latency.json.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.msg import Msg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import lean_http
from deploy.local.stack import REPO, Stack, free_port
from deploy.local.topology import SERVICES
from shared.auth.devkeys import mint_token
from shared.auth.principal import Role

ORG = "harbor-house"
RESPONDER = "bench-responder"
TIMER_LEVEL_MINUTES = 0.05  # 3 s
CPU_RATE, CPU_SECONDS = 20.0, 30.0  # within what the machine carries: no queueing in the figure
CAPACITY_RATES, CAPACITY_SECONDS, CAPACITY_P99_MS = (20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 150.0), 10.0, 100.0
SURGE_SECONDS = 30.0
# One alert in ten imminent, two high, the rest low or moderate.
SURGE_MIX = ("imminent", "high", "high", "low", "moderate", "low", "moderate", "low", "moderate", "low")
TIMER_ORG, TIMER_RESPONDER = "riverside", "bench-timer-responder"
# With RN_BENCH_PROFILE=<dir>, py-spy records these services during the CPU phase (where the time goes).
PROFILE_DIR = os.environ.get("RN_BENCH_PROFILE")
PROFILE_PROCESSES = ("crisis", "notifications", "insights")
CPU_ONLY = bool(os.environ.get("RN_BENCH_CPU_ONLY"))  # the CPU phase alone, for profiling rounds
SERVICES_UNDER_TEST = ["crisis", "notifications", "insights"]


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """User plus system CPU time of every process of the stack so far, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, proc in stack.procs.items():
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


def profile(stack: Stack, name: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy's collapsed stacks of one service for `seconds`, into PROFILE_DIR/<name>.txt."""
    assert PROFILE_DIR is not None
    out = Path(PROFILE_DIR) / f"{name}.txt"
    argv = ["py-spy", "record", "--format", "raw", "-r", "50", "-d", str(int(seconds)), "-o", str(out)]
    return subprocess.Popen([*argv, "-p", str(stack.procs[name].pid)], stdout=subprocess.DEVNULL)


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Console:
    """One responder console: records when each (case, level) escalation arrives; resumes after breaks."""

    url: str
    token: str
    arrivals: dict[tuple[str, int], float] = field(default_factory=dict)  # (case id, level) -> wall time
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    reconnects: int = 0

    async def run(self) -> None:
        last_id: str | None = None
        async with httpx.AsyncClient(timeout=None) as client:
            while True:
                headers = {"Authorization": f"Bearer {self.token}"}
                if last_id:
                    headers["Last-Event-ID"] = last_id
                try:
                    async with client.stream(
                        "GET", f"{self.url}/crisis/console/events", headers=headers
                    ) as r:
                        r.raise_for_status()
                        self.connected.set()
                        async for frame_id, body in frames(r):
                            last_id = frame_id
                            if body["type"] == "crisis.escalated.v1":
                                key = (body["data"]["case_id"], body["data"]["level"])
                                self.arrivals.setdefault(key, time.time())
                except (httpx.HTTPError, OSError):
                    pass
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(0.2)


async def frames(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:  # type: ignore[type-arg]
    frame_id, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            frame_id = line[3:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif not line and data:
            yield frame_id, json.loads(data)
            data = ""


async def settle(done: Callable[[], bool], seconds: float) -> None:
    """Wait until `done()` or `seconds` pass; whatever has not arrived by then counts as lost."""
    for _ in range(max(int(seconds / 0.05), 1)):
        if done():
            return
        await asyncio.sleep(0.05)


async def open_loop(rate: float, seconds: float, send: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    start, n = time.perf_counter(), int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)


def steady(_: int) -> str:
    return "high"


def surge_mix(i: int) -> str:
    return SURGE_MIX[i % len(SURGE_MIX)]


async def alerts_at(
    rate: float,
    seconds: float,
    url: str,
    tokens: list[str],
    console: Console,
    severity_of: Callable[[int], str] = steady,
    drain_seconds: float = 10.0,
) -> dict[str, float]:
    sent: dict[str, tuple[float, str]] = {}  # case id -> (sent at, severity)
    answered: list[float] = []  # ms from sending to the HTTP answer
    errors = 0
    address = httpx.URL(url)
    client = lean_http.Client(address.host, address.port or 80)

    async def post(i: int) -> None:
        nonlocal errors
        t0, severity = time.time(), severity_of(i)
        try:
            status, body = await client.post_json(
                "/crisis/alerts", {"severity": severity}, {"Authorization": f"Bearer {tokens[i]}"}
            )
        except lean_http.HttpError as exc:
            print(f"  alert {i} failed: {exc}", flush=True)
            errors += 1
            return
        answered.append((time.time() - t0) * 1000)
        if status in (201, 202):  # opened in the request, or accepted in a surge
            sent[body["id"]] = (t0, severity)
        else:
            errors += 1

    await open_loop(rate, seconds, post)
    client.close()
    stopped = time.time()
    await settle(lambda: all((case, 1) in console.arrivals for case in sent), seconds=drain_seconds)
    arrived = {
        c: (console.arrivals[(c, 1)] - t0) * 1000 for c, (t0, _) in sent.items() if (c, 1) in console.arrivals
    }
    latencies = list(arrived.values())
    imminent = [ms for c, ms in arrived.items() if sent[c][1] == "imminent"]
    last = max((console.arrivals[(c, 1)] for c in arrived), default=stopped)
    return {
        "alerts": int(rate * seconds),
        "http_errors": errors,
        "lost": len(sent) - len(latencies),
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "http_p50_ms": pct(answered, 50),
        "http_p99_ms": pct(answered, 99),
        "imminent_p99_ms": pct(imminent, 99),
        "drain_s": max(last - stopped, 0.0),
    }


async def cpu_per_alert(
    stack: Stack, rate: float, seconds: float, url: str, tokens: list[str], console: Console
) -> dict[str, Any]:
    """CPU time per alert of each process, over the whole flow: alerts at `rate`, then until the last
    trace is exported and ingested and the relay has marked the outbox, less what the same processes
    use idle over as long."""
    quiet = 15.0  # span export (5 s batches), insights' ingest and one relay round (10 s)
    profilers = [profile(stack, name, seconds + quiet) for name in PROFILE_PROCESSES] if PROFILE_DIR else []
    before, t0 = cpu_seconds(stack), time.monotonic()
    flow = await alerts_at(rate, seconds, url, tokens, console)
    await asyncio.sleep(quiet)
    after, wall = cpu_seconds(stack), time.monotonic() - t0
    await asyncio.sleep(wall)
    idle = cpu_seconds(stack)
    for profiler in profilers:
        profiler.wait()
    alerts = flow["alerts"]
    per_process = {
        name: max((after[name] - before[name]) - (idle[name] - after[name]), 0.0) * 1000 / alerts
        for name in after
    }
    return {
        "alerts": alerts,
        "rate": rate,
        "lost": flow["lost"],
        "ms_per_alert": sum(per_process.values()),
        "ms_per_alert_by_process": per_process,
        "idle_ms_per_second": {n: (idle[n] - after[n]) * 1000 / wall for n in after},
    }


async def request_reply_at(rate: float, seconds: float, nats_url: str, password: str) -> dict[str, float]:
    responder = await nats.connect(nats_url, user="admin", password=password)
    requester = await nats.connect(nats_url, user="admin", password=password)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.crisis.echo", cb=echo)
    await responder.flush()  # the subscription is known to the server before the first request
    rtts: list[float] = []
    errors = 0

    async def request(_: int) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            await requester.request("bench.crisis.echo", b"x" * 400, timeout=5)
        except nats.errors.Error as exc:  # seen once on an overloaded machine: "no responders"
            print(f"  request failed: {exc!r}", flush=True)
            errors += 1
            return
        rtts.append((time.perf_counter() - t0) * 1000)

    await open_loop(rate, seconds, request)
    await requester.close()
    await responder.close()
    return {"p50_ms": pct(rtts, 50), "p99_ms": pct(rtts, 99), "errors": errors}


async def opened_case(client: httpx.AsyncClient, url: str, case_id: str, token: str) -> dict[str, Any]:
    while True:
        r = await client.get(f"{url}/crisis/cases/{case_id}", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200 and r.json()["deadline"]:
            return r.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


async def timer_lateness(
    stack: Stack, client: httpx.AsyncClient, url: str, tokens: list[str], console: Console, *, kill: bool
) -> dict[str, float]:
    """Cases whose level 1 lasts 3 s: how late does level 2 reach the console after each deadline?

    With `kill`, a deadline that passed while the service was down cannot fire before it is back,
    so lateness is also given from the later of the deadline and the moment it answered again.
    """
    deadlines: dict[str, float] = {}
    killed = back = 0.0
    for token in tokens:
        r = await client.post(f"{url}/crisis/alerts", json={}, headers={"Authorization": f"Bearer {token}"})
        body = r.raise_for_status().json()
        if body["deadline"] is None:  # accepted in a surge: the deadline is set once the case opens
            body = await opened_case(client, url, body["id"], console.token)
        deadlines[body["id"]] = datetime.fromisoformat(body["deadline"]).timestamp()
    if kill:
        killed = time.time()
        stack.kill("crisis", signal.SIGKILL)
        stack.start_service("crisis")  # returns once it answers /health again
        back = time.time()
        await asyncio.wait_for(console.connected.wait(), timeout=30)
    await settle(
        lambda: all((case, 2) in console.arrivals for case in deadlines),
        seconds=max(deadlines.values()) + 15 - time.time(),
    )
    arrived = {c: (console.arrivals[(c, 2)], d) for c, d in deadlines.items() if (c, 2) in console.arrivals}
    late = [(at - d) * 1000 for at, d in arrived.values()]
    late_once_back = [(at - max(d, back)) * 1000 for at, d in arrived.values()]
    return {
        "down_ms": (back - killed) * 1000 if kill else 0.0,
        "cases": len(deadlines),
        "missed": len(deadlines) - len(arrived),
        "p50_ms": pct(late, 50),
        "p99_ms": pct(late, 99),
        "max_ms": max(late, default=float("nan")),
        "p50_once_back_ms": pct(late_once_back, 50),
        "p99_once_back_ms": pct(late_once_back, 99),
    }


async def set_first_level(
    client: httpx.AsyncClient, url: str, admin: dict[str, str], minutes: float, responder: str = RESPONDER
) -> None:
    protocol = {
        "levels": [
            {"responder_ids": [responder], "timeout_minutes": minutes},
            {"responder_ids": [responder], "timeout_minutes": 60},
        ],
        "start_levels": {},
    }
    (await client.put(f"{url}/crisis/protocol", json=protocol, headers=admin)).raise_for_status()


async def find_capacity(url: str, tokens: list[str], console: Console) -> float:
    """The highest of CAPACITY_RATES at which alert-to-console p99 stays within CAPACITY_P99_MS."""
    capacity, used = 0.0, 0
    for rate in CAPACITY_RATES:
        print(f"capacity: {rate:g}/s for {CAPACITY_SECONDS:g} s ...", flush=True)
        n = int(rate * CAPACITY_SECONDS)
        r = await alerts_at(rate, CAPACITY_SECONDS, url, tokens[used : used + n], console)
        used += n
        print(f"  p99 {r['p99_ms']:.1f} ms, lost {r['lost']:.0f}, errors {r['http_errors']:.0f}", flush=True)
        if r["p99_ms"] > CAPACITY_P99_MS or r["lost"] or r["http_errors"]:
            break
        capacity = rate
        await asyncio.sleep(3)  # the relay's marks of this step, before the next
    return capacity


async def surge(
    stack: Stack, client: httpx.AsyncClient, rate: float, tokens: list[str], console: Console
) -> dict[str, object]:
    """SURGE_SECONDS at `rate` with SURGE_MIX, and escalation timers of another organization meanwhile."""
    url, key = stack.url("crisis"), stack.private_key
    admin = {
        "Authorization": f"Bearer {mint_token(key, sub='bench-admin', org=TIMER_ORG, roles=[Role.ORG_ADMIN])}"
    }
    for person, roles in ((TIMER_RESPONDER, ["responder"]), ("bench-timer-coord", ["coordinator"])):
        r = await client.put(f"{url}/crisis/staff/{person}", json={"roles": roles}, headers=admin)
        r.raise_for_status()
    await set_first_level(client, url, admin, minutes=TIMER_LEVEL_MINUTES, responder=TIMER_RESPONDER)
    timer_console = Console(url, mint_token(key, sub=TIMER_RESPONDER, org=TIMER_ORG, roles=[Role.RESPONDER]))
    watching = asyncio.create_task(timer_console.run())
    await asyncio.wait_for(timer_console.connected.wait(), timeout=10)
    timer_members = [
        mint_token(key, sub=f"bench-t{i}", org=TIMER_ORG, roles=[Role.MEMBER]) for i in range(10)
    ]

    async def timers_meanwhile() -> dict[str, float]:
        await asyncio.sleep(SURGE_SECONDS / 3)  # once the backlog builds
        return await timer_lateness(stack, client, url, timer_members, timer_console, kill=False)

    print(f"surge: {rate:g}/s for {SURGE_SECONDS:g} s ...", flush=True)
    n = int(rate * SURGE_SECONDS)
    alerts, timers = await asyncio.gather(
        alerts_at(rate, SURGE_SECONDS, url, tokens[:n], console, surge_mix, drain_seconds=180),
        timers_meanwhile(),
    )
    watching.cancel()
    return {"rate": rate, **alerts, "timers": timers}


async def run(rates: list[float], seconds: float, timer_cases: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="rn-bench-crisis-"))
    stack = Stack(
        data_dir=data,
        network_file=REPO / "deploy" / "local" / "network.json",
        nats_port=free_port(),
        docstore_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
    )
    results: dict[str, object] = {"seconds_per_rate": seconds}
    try:
        stack.start_nats()
        stack.start_docstore()
        await stack.provision()
        stack.start_services(SERVICES_UNDER_TEST)
        url = stack.url("crisis")
        key = stack.private_key
        admin = {
            "Authorization": f"Bearer {mint_token(key, sub='bench-admin', org=ORG, roles=[Role.ORG_ADMIN])}"
        }
        most = sum(rates) * seconds + CPU_RATE * CPU_SECONDS + sum(CAPACITY_RATES) * CAPACITY_SECONDS
        total = int(most + 3 * max(CAPACITY_RATES) * SURGE_SECONDS) + 2 * timer_cases
        print(f"minting {total} member tokens ...", flush=True)
        members = [mint_token(key, sub=f"bench-m{i}", org=ORG, roles=[Role.MEMBER]) for i in range(total)]
        # Idle connections expire before uvicorn closes them (5 s), so none is reused half-closed.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            for person, roles in ((RESPONDER, ["responder"]), ("bench-coord", ["coordinator"])):
                r = await client.put(f"{url}/crisis/staff/{person}", json={"roles": roles}, headers=admin)
                r.raise_for_status()
            console = Console(url, mint_token(key, sub=RESPONDER, org=ORG, roles=[Role.RESPONDER]))
            console_task = asyncio.create_task(console.run())
            await asyncio.wait_for(console.connected.wait(), timeout=10)

            print(f"timers: {timer_cases} cases, then {timer_cases} more across a kill -9 ...", flush=True)
            await set_first_level(client, url, admin, minutes=TIMER_LEVEL_MINUTES)
            results["timers"] = await timer_lateness(
                stack, client, url, members[:timer_cases], console, kill=False
            )
            results["timers_after_kill"] = await timer_lateness(
                stack, client, url, members[timer_cases : 2 * timer_cases], console, kill=True
            )
            used = 2 * timer_cases
            await set_first_level(client, url, admin, minutes=60)  # no timer fires during the load
            n = int(CPU_RATE * CPU_SECONDS)
            print(f"CPU per alert: {n} alerts at {CPU_RATE:g}/s, then quiet ...", flush=True)
            results["cpu"] = await cpu_per_alert(
                stack, CPU_RATE, CPU_SECONDS, url, members[used : used + n], console
            )
            print(json.dumps(results["cpu"], indent=1), flush=True)
            if CPU_ONLY:
                return results
            used += n
            for rate in rates:
                print(f"alerts at {rate:g}/s for {seconds:g} s ...", flush=True)
                n = int(rate * seconds)
                batch = members[used : used + n]
                results[f"alerts_{rate:g}"] = await alerts_at(rate, seconds, url, batch, console)
                used += n
                print(f"raw nats-py request/reply at {rate:g}/s for {seconds:g} s ...", flush=True)
                results[f"baseline_{rate:g}"] = await request_reply_at(
                    rate, seconds, stack.nats_url, stack.passwords["admin"]
                )
            results["capacity"] = capacity = await find_capacity(url, members[used:], console)
            used += int(sum(CAPACITY_RATES) * CAPACITY_SECONDS)
            results["surge"] = await surge(stack, client, 3 * max(capacity, 20.0), members[used:], console)
            console_task.cancel()
    finally:
        stack.stop()
    return results


def report(r: dict[str, dict[str, float]], rates: list[float]) -> str:
    lines = [
        f"{'alerts over HTTP → console':<30}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>6}{'errors':>7}"
    ]
    for rate in rates:
        a, b = r[f"alerts_{rate:g}"], r[f"baseline_{rate:g}"]
        lines.append(
            f"{f'  at {rate:g}/s':<30}{a['p50_ms']:>9.2f}{a['p99_ms']:>9.2f}{a['max_ms']:>9.2f}"
            f"{a['lost']:>6.0f}{a['http_errors']:>7.0f}"
        )
        lines.append(f"{'    of which the HTTP answer':<30}{a['http_p50_ms']:>9.2f}{a['http_p99_ms']:>9.2f}")
        lines.append(f"{f'  raw request/reply at {rate:g}/s':<30}{b['p50_ms']:>9.2f}{b['p99_ms']:>9.2f}")
        lines.append(
            f"{'  ratio to baseline':<30}{a['p50_ms'] / b['p50_ms']:>9.1f}{a['p99_ms'] / b['p99_ms']:>9.1f}"
        )
    lines.append(f"{'timer lateness (deadline → console)':<30}")
    for name in ("timers", "timers_after_kill"):
        t = r[name]
        label = "  steady" if name == "timers" else "  across a kill -9"
        lines.append(
            f"{label:<30}{t['p50_ms']:>9.2f}{t['p99_ms']:>9.2f}{t['max_ms']:>9.2f}{t['missed']:>6.0f}"
        )
    s = r["surge"]
    lines.append(f"capacity (alert to console p99 ≤ {CAPACITY_P99_MS:g} ms): {r['capacity']:g} alerts/s")
    lines.append(
        f"surge at {s['rate']:g}/s for {SURGE_SECONDS:g} s: {s['http_errors']:.0f} not 2xx,"
        f" {s['lost']:.0f} lost,"
        f" HTTP p99 {s['http_p99_ms']:.0f} ms, imminent to console p99 {s['imminent_p99_ms']:.0f} ms,"
        f" all p99 {s['p99_ms']:.0f} ms, backlog drained {s['drain_s']:.1f} s after the last alert"
    )
    st: dict[str, float] = s["timers"]  # type: ignore[assignment]
    lines.append(
        f"{'  timers during the surge':<30}{st['p50_ms']:>9.2f}{st['p99_ms']:>9.2f}{st['max_ms']:>9.2f}"
        f"{st['missed']:>6.0f}"
    )
    c = r["cpu"]
    per_process: dict[str, float] = c["ms_per_alert_by_process"]  # type: ignore[assignment]
    by = ", ".join(f"{k} {v:.2f}" for k, v in per_process.items())
    lines.append(f"CPU per alert over the whole flow: {c['ms_per_alert']:.2f} ms ({by})")
    t = r["timers_after_kill"]
    lines.append(
        f"{'    from answering again':<30}{t['p50_once_back_ms']:>9.2f}{t['p99_once_back_ms']:>9.2f}"
        f"   (down {t['down_ms'] / 1000:.1f} s)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="50", help="alerts per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--timer-cases", type=int, default=20)
    args = parser.parse_args()
    rates = [float(x) for x in args.rates.split(",")]
    results = asyncio.run(run(rates, args.seconds, args.timer_cases))
    if CPU_ONLY:
        return  # printed as it was measured; the results file keeps the last full run
    print(report(results, rates))  # type: ignore[arg-type]
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "crisis_latency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
