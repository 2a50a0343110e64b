"""Meetings: directory search latency over 20,000 meetings of 20 organizations.

    make bench-meetings   (or: .venv/bin/python bench/meetings_directory.py --meetings 20000 --searches 1000)

Starts nats-server, the document store and the meetings service (each its own process, as in
`make run`) on free ports, with a stand-in OTLP endpoint for the service's spans. The meetings are
written to the service's database before it starts (as a network that has imported its feeds would
have them); the service loads them into its directory at start (the time to the first answer is
reported). Then:
  - ours: a mix of searches over HTTP (`GET /directory/meetings`, a page of 20), one at a time, then
    8 at a time: day, time window, type codes, region, distance from a point, attendance option,
    language, text, "starting in the next 2 hours" in a searcher's time zone, and combinations;
    latency measured by the client, per request.
  - baseline, same run, same documents: raw PyMongo running the same searches as MongoDB queries
    on the same store (every filter but the ones MongoDB cannot express: distance, and "starting
    within", which needs the recurrence rules), sorted by day and time, a page of 20 plus the count.
Figures are written to bench/results/meetings_directory.json.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import ASCENDING, AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crisis_latency import cpu_seconds
from bench.notifications_fanout import OtlpSink
from deploy.local.stack import REPO, Stack, free_port
from deploy.local.topology import SERVICES
from services.meetings import store
from services.meetings.model import Listing, Meeting

TARGET_P95_MS = 50.0  # issue 11
ORGS = [f"bench-{n:02d}" for n in range(1, 21)]
CITIES = {  # region -> (latitude, longitude, time zone)
    "Chicago": (41.8781, -87.6298, "America/Chicago"),
    "Evanston": (42.0451, -87.6877, "America/Chicago"),
    "Milwaukee": (43.0389, -87.9065, "America/Chicago"),
    "Madison": (43.0731, -89.4012, "America/Chicago"),
    "Detroit": (42.3314, -83.0458, "America/Detroit"),
    "Cleveland": (41.4993, -81.6944, "America/New_York"),
    "Denver": (39.7392, -104.9903, "America/Denver"),
    "Phoenix": (33.4484, -112.0740, "America/Phoenix"),
    "Seattle": (47.6062, -122.3321, "America/Los_Angeles"),
    "Portland": (45.5152, -122.6784, "America/Los_Angeles"),
}
WORDS = ["Hope", "Serenity", "Sunrise", "Freedom", "Lakeside", "Courage", "Big Book", "Step", "Unity",
         "Promises", "Keep Coming Back", "Gratitude", "Women's", "Men's", "Newcomers"]  # fmt: skip
TYPES = ["O", "C", "D", "SP", "BB", "ST", "MED", "W", "M", "YP", "LGBTQ", "BE", "WC", "CF", "TR"]


def listing(rng: random.Random, n: int) -> Listing:
    region = rng.choice(list(CITIES))
    lat, lon, zone = CITIES[region]
    fields: dict[str, Any] = {
        "name": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {n}",
        "time": f"{rng.randrange(6, 22):02d}:{rng.choice([0, 15, 30, 45]):02d}",
        "timezone": zone,
        "types": rng.sample(TYPES, rng.randint(1, 4)) + (["S"] if rng.random() < 0.1 else ["EN"]),
        "region": region,
        "notes": rng.choice(["", "Wheelchair accessible.", "Enter by the side door.", "Coffee provided."]),
    }
    kind = rng.random()
    if kind < 0.05:
        fields["monthly"] = [{"nth": rng.choice([1, 2, 3, -1]), "day": rng.randrange(7)}]
    elif kind < 0.07:
        fields["dates"] = [f"2027-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"]
    else:
        fields["day"] = rng.sample(range(7), rng.choice([1, 1, 1, 2, 3]))
    mode = rng.random()
    if mode > 0.2:
        fields["formatted_address"] = f"{rng.randint(1, 999)} Main St, {region}"
        fields["latitude"] = lat + rng.uniform(-0.2, 0.2)
        fields["longitude"] = lon + rng.uniform(-0.2, 0.2)
    if mode < 0.3:
        fields["conference_url"] = f"https://zoom.us/j/{rng.randint(10**8, 10**9)}"
    return Listing.model_validate(fields)


def meetings(count: int, seed: int = 11) -> list[Meeting]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    for n in range(count):
        key = f"bench-m{n:06d}"
        made.append(Meeting(id=key, org=ORGS[n % len(ORGS)], slug=key, listing=listing(rng, n), updated=now))
    return made


def searches(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """A mix of what people search for, each a set of query parameters."""
    rng = random.Random(seed)
    made: list[dict[str, Any]] = []
    for _ in range(count):
        region = rng.choice(list(CITIES))
        lat, lon, zone = CITIES[region]
        day = rng.randrange(7)
        kinds: list[dict[str, Any]] = [
            {"day": day},
            {"day": day, "time_from": "17:00", "time_to": "20:00"},
            {"types": rng.sample(TYPES, 2)},
            {"region": region, "day": day},
            {"latitude": lat, "longitude": lon, "radius_km": 10},
            {"attendance": "online", "day": day},
            {"language": "S"},
            {"q": rng.choice(["serenity", "wheelchair", "step", "unity"])},
            {"starting_within_hours": 2, "tz": zone},
            {"day": day, "types": ["O"], "region": region, "q": "hope"},
        ]
        q = kinds[rng.randrange(len(kinds))]
        if rng.random() < 0.2:
            q["offset"] = 20
        made.append(q)
    return made


def mongo_filter(q: dict[str, Any]) -> dict[str, Any] | None:
    """The same search as a MongoDB query on the stored documents, where MongoDB can say it."""
    if "latitude" in q or "starting_within_hours" in q:
        return None
    f: dict[str, Any] = {"status": "active"}
    if "day" in q:
        f["$or"] = [{"listing.day": q["day"]}, {"listing.monthly.day": q["day"]}]
    if "time_from" in q:
        f["listing.time"] = {"$gte": q["time_from"], "$lte": q["time_to"]}
    if "types" in q:
        f["listing.types"] = {"$all": q["types"]}
    if "region" in q:
        f["listing.region"] = q["region"]
    if "attendance" in q:  # online only: a link and no address (the bench's meetings are never TC)
        f["listing.conference_url"] = {"$exists": True}
        f["listing.formatted_address"] = {"$exists": False}
    if "language" in q:
        f["listing.types"] = q["language"]
    if "q" in q:
        f["listing.name"] = {"$regex": q["q"], "$options": "i"}
    return f


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"count": len(ms), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "mean": statistics.fmean(ms)}


async def timed_searches(
    http: httpx.AsyncClient, url: str, queries: list[dict[str, Any]], clients: int
) -> Any:
    latencies: list[float] = []
    totals: list[int] = []
    pending = iter(queries)

    async def client() -> None:
        for q in pending:
            t0 = time.perf_counter()
            r = await http.get(url, params=q)
            latencies.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            totals.append(r.json()["total"])

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - t0
    return {**percentiles(latencies), "per_s": len(queries) / seconds, "mean_total": statistics.fmean(totals)}


async def first_answer(http: httpx.AsyncClient, url: str) -> None:
    """Waits for the service's first search answer (it loads the directory first)."""
    for _ in range(600):
        try:
            if (await http.get(url, params={"limit": 1})).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the meetings service never answered a search")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


async def run(count: int, searches_n: int, baseline_n: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="rn-bench-meetings-"))
    sink = OtlpSink()
    await sink.start()
    stack = Stack(
        data_dir=data,
        network_file=REPO / "deploy" / "local" / "network.json",
        nats_port=free_port(),
        docstore_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.url},
    )
    results: dict[str, Any] = {"meetings": count, "organizations": len(ORGS), "cores": os.cpu_count(),
                               "target_p95_ms": TARGET_P95_MS}  # fmt: skip
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.database_url, tz_aware=True)
    try:
        stack.start_nats()
        stack.start_docstore()
        await stack.provision()
        db = mongo[stack.settings("meetings").database_name]
        print(f"writing {count} meetings to the store", flush=True)
        docs = [store.to_doc(m) for m in meetings(count)]
        for i in range(0, len(docs), 1000):
            await db.meetings.insert_many(docs[i : i + 1000])
            await db.slugs.insert_many([{"_id": d["slug"], "meeting_id": d["_id"], "org": d["org"]}
                                        for d in docs[i : i + 1000]])  # fmt: skip
        t0 = time.perf_counter()
        stack.start_services(["meetings"])
        url = f"{stack.url('meetings')}/directory/meetings"
        async with httpx.AsyncClient(timeout=60.0) as http:
            await first_answer(http, url)
            results["start_to_first_search_s"] = time.perf_counter() - t0
            results["meetings_rss_mb"] = rss_mb(stack.procs["meetings"].pid)
            queries = searches(searches_n)
            await timed_searches(http, url, queries[:100], 1)  # warm-up
            before = cpu_seconds(stack)
            results["ours_sequential"] = await timed_searches(http, url, queries, 1)
            after = cpu_seconds(stack)
            results["ours_cpu_ms_per_search"] = (after["meetings"] - before["meetings"]) * 1000 / searches_n
            results["ours_8_clients"] = await timed_searches(http, url, queries, 8)

        print("baseline: raw PyMongo on the same documents", flush=True)
        raw: list[float] = []
        for q in [q for q in searches(searches_n) if mongo_filter(q) is not None][:baseline_n]:
            f = mongo_filter(q)
            assert f is not None
            t0 = time.perf_counter()
            sort = [("listing.day", ASCENDING), ("listing.time", ASCENDING), ("_id", ASCENDING)]
            await db.meetings.find(f, sort=sort, skip=q.get("offset", 0), limit=20).to_list()
            await db.meetings.count_documents(f)
            raw.append((time.perf_counter() - t0) * 1000)
        results["raw_pymongo"] = percentiles(raw)
    finally:
        await mongo.close()
        stack.stop()
        await sink.stop()
    results["log_dir"] = str(stack.log_dir)
    return results


def report(r: dict[str, Any]) -> str:
    seq, par, raw = r["ours_sequential"], r["ours_8_clients"], r["raw_pymongo"]
    lines = [
        f"meetings directory: {r['meetings']:,} meetings of {r['organizations']} organizations,"
        f" {r['cores']} cores",
        f"start to first search (loading the directory): {r['start_to_first_search_s']:.1f} s;"
        f" meetings process RSS {r['meetings_rss_mb']:.0f} MB",
        "",
        f"{'searches':<52}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'per s':>8}",
        f"{'ours: GET /directory/meetings, 1 client':<52}{seq['count']:>7}{seq['p50']:>9.1f}"
        f"{seq['p95']:>9.1f}{seq['p99']:>9.1f}{seq['per_s']:>8.0f}",
        f"{'ours: GET /directory/meetings, 8 clients':<52}{par['count']:>7}{par['p50']:>9.1f}"
        f"{par['p95']:>9.1f}{par['p99']:>9.1f}{par['per_s']:>8.0f}",
        f"{'raw PyMongo find + count, same store (no HTTP)':<52}{raw['count']:>7}{raw['p50']:>9.1f}"
        f"{raw['p95']:>9.1f}{raw['p99']:>9.1f}",
        "",
        f"meetings CPU per search: {r['ours_cpu_ms_per_search']:.2f} ms; average results per search:"
        f" {seq['mean_total']:.0f}",
        f"target p95 ≤ {r['target_p95_ms']:.0f} ms per search (1 client): "
        + ("met" if seq["p95"] <= r["target_p95_ms"] else f"NOT met ({seq['p95']:.1f} ms)"),
        f"logs: {r['log_dir']}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meetings", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument(
        "--baseline", type=int, default=20, help="raw PyMongo searches (each scans the store for seconds)"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.meetings, args.searches, args.baseline))
    out = Path(__file__).parent / "results" / "meetings_directory.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"figures: {out}")


if __name__ == "__main__":
    main()
