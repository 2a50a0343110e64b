"""Crisis domain rules, free of I/O: who is on call, and what raising a case causes."""

from dataclasses import dataclass, field
from datetime import datetime

from contracts.crisis import CrisisEscalated, CrisisEscalatedData, CrisisRaised, CrisisRaisedData, Severity
from contracts.envelope import Event
from contracts.ids import new_id

SOURCE = "crisis"
EMERGENCY_GUIDANCE = (
    "If you are in immediate danger, call or text 988 (Suicide & Crisis Lifeline) "
    "or your local emergency number."
)


class NobodyToReach(Exception):
    """A protocol level resolved to no responder: saving such a protocol is refused."""


@dataclass(frozen=True)
class Roster:
    """Responders taking turns a week at a time, in the order given."""

    id: str
    responder_ids: tuple[str, ...]
    rotation_start: datetime

    def on_call(self, at: datetime) -> str | None:
        if not self.responder_ids:
            return None
        weeks = max((at - self.rotation_start).days // 7, 0)
        return self.responder_ids[weeks % len(self.responder_ids)]


@dataclass(frozen=True)
class Level:
    responder_ids: tuple[str, ...] = ()
    roster_id: str | None = None
    timeout_minutes: int = 5


@dataclass(frozen=True)
class Protocol:
    levels: tuple[Level, ...]


@dataclass
class Case:
    id: str
    org: str
    member_id: str
    severity: Severity
    opened_at: datetime
    state: str = "triggered"
    level: int = 0
    notified: list[str] = field(default_factory=list)
    timeline: list[dict[str, object]] = field(default_factory=list)


def targets(level: Level, rosters: dict[str, Roster], at: datetime) -> list[str]:
    """Everyone to notify together at one level; an empty roster slot adds nobody."""
    people = list(level.responder_ids)
    roster = rosters.get(level.roster_id) if level.roster_id else None
    on_call = roster.on_call(at) if roster else None
    if on_call and on_call not in people:
        people.append(on_call)
    return people


def check_protocol(protocol: Protocol, rosters: dict[str, Roster]) -> None:
    """Every level must name someone who can be reached."""
    if not protocol.levels:
        raise NobodyToReach("a protocol needs at least one level")
    for number, level in enumerate(protocol.levels, start=1):
        if level.roster_id and level.roster_id not in rosters:
            raise NobodyToReach(f"level {number} names roster {level.roster_id!r}, which does not exist")
        if not level.responder_ids and not (level.roster_id and rosters[level.roster_id].responder_ids):
            raise NobodyToReach(f"level {number} has no responders")


def raise_case(
    *,
    org: str,
    member_id: str,
    severity: Severity,
    protocol: Protocol | None,
    rosters: dict[str, Roster],
    now: datetime,
) -> tuple[Case, list[Event]]:
    """Open a case and escalate it to the first level that reaches somebody."""
    case = Case(id=new_id(), org=org, member_id=member_id, severity=severity, opened_at=now)
    events: list[Event] = [
        CrisisRaised.create(
            source=SOURCE,
            org=org,
            subject=case.id,
            data=CrisisRaisedData(case_id=case.id, member_id=member_id, severity=severity),
        )
    ]
    case.timeline.append({"at": now, "what": "raised", "severity": severity})
    for number, level in enumerate(protocol.levels if protocol else (), start=1):
        people = targets(level, rosters, now)
        if not people:
            case.timeline.append({"at": now, "what": "level_skipped", "level": number})
            continue
        case.level, case.notified = number, people
        case.timeline.append({"at": now, "what": "escalated", "level": number, "responders": people})
        events.append(
            CrisisEscalated.create(
                source=SOURCE,
                org=org,
                subject=case.id,
                data=CrisisEscalatedData(
                    case_id=case.id, level=number, severity=severity, responder_ids=people
                ),
            )
        )
        break
    else:
        case.timeline.append({"at": now, "what": "no_responder_reachable"})
    return case, events
