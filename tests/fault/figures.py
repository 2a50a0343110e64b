"""What the streams and the stores hold after a fault run, counted against what the load was told.

Everything is read the way an auditor would: every message stored in the CRISIS, MENTORING and
NOTIFICATIONS streams (an admin NATS connection), and every case and notification document.
A message stored twice counts twice, whatever its id: a consumer that de-duplicates hides a
double, it does not undo it.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pymongo import AsyncMongoClient

from contracts.subjects import DOMAINS, domain_wildcard, stream_name
from deploy.local.stack import Stack
from tests.fault.load import Load

Document = dict[str, Any]
Step = tuple[int, int]  # (level, round)


@dataclass
class Figures:
    """The numbers a fault run is judged by; every 'lost', 'missing' and 'doubled' must be 0."""

    processes_killed: list[str] = field(default_factory=list)
    alerts_sent: int = 0
    http_attempts: int = 0
    alerts_accepted: int = 0
    alerts_lost: int = 0  # accepted, and no case, or no CrisisRaised, on the stream
    cases: int = 0
    raised_missing: int = 0  # a stored case whose CrisisRaised is not on the stream
    raised_doubled: int = 0  # a case raised more than once, under different event ids
    escalation_steps: int = 0
    escalation_steps_missing: int = 0
    escalation_steps_doubled: int = 0
    events_stored_twice: int = 0  # one event id in more than one stream message
    matches_accepted: int = 0
    matches_lost: int = 0
    notifications: int = 0
    notifications_missing: int = 0
    notifications_doubled: int = 0
    deliveries_missing: int = 0  # a notification without its NotificationDelivered event
    deliveries_doubled: int = 0
    problems: list[str] = field(default_factory=list)  # the first few findings, for the failure message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def clean(self) -> bool:
        return not any(
            (
                self.alerts_lost,
                self.raised_missing,
                self.raised_doubled,
                self.escalation_steps_missing,
                self.escalation_steps_doubled,
                self.events_stored_twice,
                self.matches_lost,
                self.notifications_missing,
                self.notifications_doubled,
                self.deliveries_missing,
                self.deliveries_doubled,
            )
        )

    def note(self, problem: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(problem)


def expected_ladder(severity: str) -> list[Step]:
    """The fault protocol (tests/fault/conftest.py): two levels, then the catch-all that waits an hour.

    Imminent risk starts at level 2, as every protocol does by default.
    """
    return [(2, 1), (3, 1)] if severity == "imminent" else [(1, 1), (2, 1), (3, 1)]


async def read_stream(js: JetStreamContext, domain: str) -> list[Document]:
    """Every message stored in the domain's stream, in order, as envelopes."""
    stream = stream_name(domain)
    last = (await js.stream_info(stream)).state.last_seq
    if last == 0:
        return []
    sub = await js.subscribe(
        domain_wildcard(domain), stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    envelopes: list[Document] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            envelopes.append(json.loads(msg.data))
            if msg.metadata.sequence.stream >= last:
                return envelopes
    finally:
        await sub.unsubscribe()


@dataclass
class Snapshot:
    crisis: list[Document]
    mentoring: list[Document]
    notification_events: list[Document]
    cases: list[Document]
    notifications: list[Document]
    aliases: dict[str, str]


async def snapshot(stack: Stack, orgs: tuple[str, ...]) -> Snapshot:
    """Everything of `orgs` in the streams and the stores."""
    nc = await nats.connect(stack.nats_urls, user="admin", password=stack.passwords["admin"])
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(stack.database_url, tz_aware=True)
    ours = {"org": {"$in": list(orgs)}}
    try:
        # Stores first: whatever they hold was published before the streams are read, or is still pending.
        cases = await mongo.rn_crisis.cases.find(ours, {"severity": 1, "timeline": 1}).to_list()
        notifications = await mongo.rn_notifications.notifications.find(
            ours, {"cause_event_id": 1, "recipient_id": 1}
        ).to_list()
        # An alert accepted in a surge that joined the person's open case (a retry, say) answered
        # with an id that now stands for that case.
        aliases = {a["_id"]: a["case_id"] async for a in mongo.rn_crisis.case_aliases.find(ours)}
        js = nc.jetstream()
        streams = {d: [e for e in await read_stream(js, d) if e["org"] in orgs] for d in DOMAINS}
        return Snapshot(
            crisis=streams["crisis"],
            mentoring=streams["mentoring"],
            notification_events=streams["notifications"],
            cases=cases,
            notifications=notifications,
            aliases=aliases,
        )
    finally:
        await nc.close()
        await mongo.close()


async def arrived(stack: Stack, load: Load, orgs: tuple[str, ...]) -> bool:
    """A cheap look (message counts per subject, a document count): has all that was accepted arrived?

    Only at least as many: whether anything is doubled is for the full count to say.
    """
    nc = await nats.connect(stack.nats_urls, user="admin", password=stack.passwords["admin"])
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(stack.database_url, tz_aware=True)
    try:
        notifications = await mongo.rn_notifications.notifications.count_documents(
            {"org": {"$in": list(orgs)}}
        )
        stored: Counter[str] = Counter()
        for domain in DOMAINS:
            info = await nc.jetstream().stream_info(
                stream_name(domain), subjects_filter=domain_wildcard(domain)
            )
            for subject, n in (info.state.subjects or {}).items():
                if subject.split(".")[1] in orgs:
                    stored[subject.split(".", 2)[2]] += n
    finally:
        await nc.close()
        await mongo.close()
    accepted = [a for a in load.alerts if a.case_id]
    steps = sum(len(expected_ladder(a.severity)) for a in accepted)
    matches = stored["mentoring.match_proposed.v1"]
    return (
        stored["crisis.raised.v1"] >= len(accepted)
        and stored["crisis.escalated.v1"] >= steps
        and matches >= sum(1 for r in load.requests if r.match_id)
        and notifications >= steps + 2 * matches
        and stored["notifications.delivered.v2"] >= notifications
    )


def count(snap: Snapshot, load: Load) -> Figures:
    figures = Figures(
        processes_killed=list(load.killed),
        alerts_sent=len(load.alerts),
        http_attempts=sum(a.attempts for a in load.alerts) + sum(r.attempts for r in load.requests),
        alerts_accepted=sum(1 for a in load.alerts if a.case_id),
        cases=len(snap.cases),
    )
    for stream in (snap.crisis, snap.mentoring, snap.notification_events):
        twice = {i: n for i, n in Counter(e["id"] for e in stream).items() if n > 1}
        figures.events_stored_twice += sum(n - 1 for n in twice.values())
        for event_id in list(twice)[:3]:
            figures.note(f"event {event_id} stored {twice[event_id]} times")
    _count_cases(snap, load, figures)
    _count_matches(snap, load, figures)
    _count_notifications(snap, figures)
    return figures


def _of_type(stream: list[Document], kind: str) -> list[Document]:
    return [e for e in stream if e["type"] == kind]


def _count_cases(snap: Snapshot, load: Load, figures: Figures) -> None:
    # Per case, its distinct CrisisRaised ids: one id stored twice is `events_stored_twice`'s to count.
    raised = Counter(
        case_id
        for case_id, _ in {(e["data"]["case_id"], e["id"]) for e in _of_type(snap.crisis, "crisis.raised.v1")}
    )
    steps: dict[str, Counter[Step]] = {}
    for e in _of_type(snap.crisis, "crisis.escalated.v1"):
        steps.setdefault(e["data"]["case_id"], Counter())[(e["data"]["level"], e["data"]["round"])] += 1
    stored = {c["_id"]: c for c in snap.cases}
    for alert in load.alerts:
        if not alert.case_id:
            figures.note(f"alert of {alert.member} never answered with a 2xx: {alert.last_failure}")
        elif (case_id := snap.aliases.get(alert.case_id, alert.case_id)) not in stored or not raised[case_id]:
            figures.alerts_lost += 1
            figures.note(f"accepted alert of {alert.member} (case {case_id}) is not stored and raised")
    for case_id, case in stored.items():
        if raised[case_id] != 1:
            figures.raised_missing += raised[case_id] == 0
            figures.raised_doubled += max(0, raised[case_id] - 1)
            figures.note(f"case {case_id}: CrisisRaised stored {raised[case_id]} times")
        expected = expected_ladder(case["severity"])
        got = steps.get(case_id, Counter())
        in_timeline = Counter((t["level"], t["round"]) for t in case["timeline"] if t["what"] == "escalated")
        figures.escalation_steps += len(expected)
        for step in expected:
            if got[step] == 0:
                figures.escalation_steps_missing += 1
                figures.note(f"case {case_id}: step {step} missing (timeline says {in_timeline[step]})")
        for step in got | in_timeline:
            extra = max(got[step], in_timeline[step]) - (1 if step in expected else 0)
            if extra > 0:
                figures.escalation_steps_doubled += extra
                figures.note(
                    f"case {case_id}: step {step} {got[step]}x stored, {in_timeline[step]}x in its timeline"
                )


def _count_matches(snap: Snapshot, load: Load, figures: Figures) -> None:
    proposed = {e["data"]["match_id"] for e in _of_type(snap.mentoring, "mentoring.match_proposed.v1")}
    for request in load.requests:
        if request.match_id:
            figures.matches_accepted += 1
            if request.match_id not in proposed:
                figures.matches_lost += 1
                figures.note(f"match {request.match_id} was answered but never published")


def _count_notifications(snap: Snapshot, figures: Figures) -> None:
    """Each escalated responder and each side of a match gets one notification, and it is announced once."""
    # Keyed by step, not by event id: two events for one step must not give a responder two notifications.
    cause: dict[str, tuple[str, ...]] = {}
    expected: set[tuple[tuple[str, ...], str]] = set()
    for e in _of_type(snap.crisis, "crisis.escalated.v1"):
        d = e["data"]
        cause[e["id"]] = ("crisis", d["case_id"], str(d["level"]), str(d["round"]))
        expected |= {(cause[e["id"]], r) for r in d["responder_ids"]}
    for e in _of_type(snap.mentoring, "mentoring.match_proposed.v1"):
        d = e["data"]
        cause[e["id"]] = ("match", d["match_id"])
        expected |= {(cause[e["id"]], r) for r in (d["mentor_id"], d["member_id"])}
    got = Counter(
        (cause.get(n["cause_event_id"], ("unknown cause", n["cause_event_id"])), n["recipient_id"])
        for n in snap.notifications
    )
    figures.notifications = len(snap.notifications)
    for key in expected - set(got):
        figures.notifications_missing += 1
        figures.note(f"notification missing: {key}")
    for key, n in got.items():
        extra = n - (1 if key in expected else 0)
        if extra > 0:
            figures.notifications_doubled += extra
            figures.note(f"notification doubled or unexplained: {key} x{n}")
    announced = Counter(
        e["data"]["notification_id"] for e in _of_type(snap.notification_events, "notifications.delivered.v2")
    )
    stored = Counter(n["_id"] for n in snap.notifications)
    figures.deliveries_missing = sum((stored - announced).values())
    figures.deliveries_doubled = sum((announced - stored).values())
