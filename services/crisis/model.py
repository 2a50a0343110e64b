"""Crisis domain rules, free of I/O: on-call rosters, the escalation ladder and case transitions.

Every function takes `now` instead of reading a clock, so ladders and timeouts are tested without
sleeping. Transitions mutate the case, write its timeline and return the events they caused.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from contracts.crisis import (
    CancelReason,
    CatchAll,
    Channel,
    CrisisAcknowledged,
    CrisisAcknowledgedData,
    CrisisCancelled,
    CrisisCancelledData,
    CrisisEscalated,
    CrisisEscalatedData,
    CrisisFollowUpCompleted,
    CrisisFollowUpCompletedData,
    CrisisFollowUpScheduled,
    CrisisFollowUpScheduledData,
    CrisisRaised,
    CrisisRaisedData,
    CrisisResolved,
    CrisisResolvedData,
    CrisisSeverityRaised,
    CrisisSeverityRaisedData,
    Outcome,
    Referral,
    Severity,
)
from contracts.envelope import Event
from contracts.ids import new_id

SOURCE = "crisis"
EMERGENCY_GUIDANCE = (
    "If you are in immediate danger, call or text 988 (Suicide & Crisis Lifeline) "
    "or your local emergency number."
)
IMMINENT_GUIDANCE = (
    "Imminent risk: call your local emergency number (911 in the US) now, or call or text 988 "
    "(Suicide & Crisis Lifeline). Stay with the person and remove means of harm if it is safe to do so."
)
CARING_CONTACT_WITHIN = timedelta(hours=24)
# A catch-all that reaches nobody (every coordinator removed since the protocol was saved) is
# tried again this often rather than given up: a case never ends with nobody.
RETRY_NOBODY = timedelta(minutes=1)
SEVERITY_RANK: dict[Severity, int] = {"low": 0, "moderate": 1, "high": 2, "imminent": 3}
DEFAULT_START_LEVELS: Mapping[Severity, int] = {"imminent": 2}  # imminent risk skips the first level
LevelRole = Literal["responder", "coordinator"]
# A regional responder is vouched for by an organization of the region: only such people can be
# named to the region's crisis team.
StaffRole = Literal["responder", "coordinator", "regional_responder"]
State = Literal["triggered", "acknowledged", "resolved", "cancelled"]
OPEN_STATES: tuple[State, ...] = ("triggered", "acknowledged")


def is_urgent(severity: Severity) -> bool:
    """High and imminent alerts are opened before any routine one in a surge."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK["high"]


def guidance_for(severity: Severity) -> str:
    """Shown with every answer: a person waiting for a responder always sees where to turn now."""
    return IMMINENT_GUIDANCE if severity == "imminent" else EMERGENCY_GUIDANCE


class NobodyToReach(Exception):
    """A protocol that could end with nobody: saving it is refused."""


class InvalidTransition(Exception):
    """The case is not in a state that allows this (acknowledging a resolved case, say)."""


class NotYours(Exception):
    """Somebody else's to do (another responder's caring contact)."""


class BadResolution(ValueError):
    """The outcome and the referral do not go together (a warm handoff without its partner, say)."""


# --- rosters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A dated exception that wins over the rotation; `responder_id=None` is a planned gap."""

    start: datetime
    end: datetime
    responder_id: str | None


@dataclass(frozen=True)
class Roster:
    """Responders taking turns a week at a time, handing over at `rotation_start`'s local wall time.

    `rotation_start` is naive local time in `time_zone`: counting weeks in wall time keeps the
    handover at 09:00 local on both sides of a daylight-saving change.
    """

    id: str
    time_zone: str
    responder_ids: tuple[str, ...]
    rotation_start: datetime
    overrides: tuple[Override, ...] = ()

    def on_call(self, at: datetime) -> str | None:
        for override in reversed(self.overrides):  # the latest added wins where they overlap
            if override.start <= at < override.end:
                return override.responder_id
        local = at.astimezone(ZoneInfo(self.time_zone)).replace(tzinfo=None)
        if not self.responder_ids or local < self.rotation_start:
            return None
        weeks = (local - self.rotation_start) // timedelta(weeks=1)
        return self.responder_ids[weeks % len(self.responder_ids)]

    def people(self) -> set[str]:
        return set(self.responder_ids) | {o.responder_id for o in self.overrides if o.responder_id}

    def next_change(self, at: datetime) -> tuple[datetime, str | None] | None:
        """When whoever is on call at `at` next changes, and who takes over; None if nobody ever does."""
        now_on_call = self.on_call(at)
        for moment in self._boundaries_after(at):
            if (after := self.on_call(moment)) != now_on_call:
                return moment, after
        return None

    def _boundaries_after(self, at: datetime) -> list[datetime]:
        """Every instant in the next weeks where the answer of on_call may change, in order."""
        zone = ZoneInfo(self.time_zone)
        edges = {t for o in self.overrides for t in (o.start, o.end) if t > at}
        local = at.astimezone(zone).replace(tzinfo=None)
        weeks = max(0, (local - self.rotation_start) // timedelta(weeks=1) + 1)
        for n in range(weeks, weeks + len(self.responder_ids) + 1):
            handover = (self.rotation_start + n * timedelta(weeks=1)).replace(tzinfo=zone)
            if handover > at:
                edges.add(handover)
        return sorted(edges)


# --- protocols ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """Targets notified together, then `timeout_minutes` before the next level."""

    responder_ids: tuple[str, ...] = ()
    role: LevelRole | None = None
    roster_id: str | None = None
    timeout_minutes: float = 5


@dataclass(frozen=True)
class Protocol:
    """Levels, passed through `1 + repeats` times, then the catch-all until somebody acknowledges.

    The default (no levels) goes straight to the catch-all: an organization without a protocol
    still reaches its coordinators.
    """

    levels: tuple[Level, ...] = ()
    repeats: int = 0
    catch_all: CatchAll = "coordinator"
    catch_all_timeout_minutes: float = 5
    ack_timeout_minutes: float = 30
    # Imminent risk skips the first level: the people who answer fastest are higher up.
    start_levels: Mapping[Severity, int] = field(default_factory=lambda: dict(DEFAULT_START_LEVELS))

    def start_level(self, severity: Severity) -> int:
        return max(1, min(self.start_levels.get(severity, 1), len(self.levels)))


@dataclass(frozen=True)
class Step:
    level: int  # 1-based; the catch-all is len(levels) + 1
    round: int
    catch_all: bool = False


def ladder(protocol: Protocol, severity: Severity) -> list[Step]:
    """Every step a case can go through, in order; the last is always the catch-all."""
    count = len(protocol.levels)
    steps = [Step(n, 1) for n in range(protocol.start_level(severity), count + 1)] if count else []
    for round_ in range(2, protocol.repeats + 2):
        steps += [Step(n, round_) for n in range(1, count + 1)]
    steps.append(Step(count + 1, protocol.repeats + 1, catch_all=True))
    return steps


@dataclass(frozen=True)
class Reach:
    """Who can be reached: the organization's staff (id → roles), its rosters and its region's team."""

    staff: Mapping[str, frozenset[str]]
    rosters: Mapping[str, Roster]
    regional_team: tuple[str, ...] = ()
    region: str | None = None
    inactive: frozenset[str] = frozenset()  # deactivated: never reached, and they work no cases
    # The organization of each team member not on this organization's staff (whose staff vouches
    # for them): notifications reaches them through that organization's record of their contacts.
    team_orgs: Mapping[str, str] = field(default_factory=dict)

    def with_role(self, role: str) -> list[str]:
        return sorted(person for person, roles in self.staff.items() if role in roles)


def level_targets(level: Level, reach: Reach, at: datetime) -> list[str]:
    """Everyone to notify together at one level; an empty roster slot adds nobody, and nor does a
    person no longer on the active staff (deactivated since the protocol or roster was saved)."""
    people = list(level.responder_ids)
    if level.role:
        people += reach.with_role(level.role)
    roster = reach.rosters.get(level.roster_id) if level.roster_id else None
    on_call = roster.on_call(at) if roster else None
    if on_call:
        people.append(on_call)
    return [p for p in dict.fromkeys(people) if p in reach.staff]


def catch_all_targets(kind: CatchAll, reach: Reach) -> tuple[CatchAll, list[str]]:
    """The chosen catch-all, or the other one if it has emptied since the protocol was saved."""
    options: dict[CatchAll, list[str]] = {
        "coordinator": reach.with_role("coordinator"),
        "regional_team": list(reach.regional_team),
    }
    if options[kind]:
        return kind, options[kind]
    other: CatchAll = "regional_team" if kind == "coordinator" else "coordinator"
    return other, options[other]


def check_protocol(protocol: Protocol, reach: Reach) -> None:
    """Refuses a protocol naming unknown people or rosters, or one that could end with nobody."""
    for number, level in enumerate(protocol.levels, start=1):
        unknown = [p for p in level.responder_ids if p not in reach.staff]
        if unknown:
            raise NobodyToReach(f"level {number} names unknown responders: {', '.join(unknown)}")
        if level.roster_id and level.roster_id not in reach.rosters:
            raise NobodyToReach(f"level {number} names roster {level.roster_id!r}, which does not exist")
        roster = reach.rosters.get(level.roster_id) if level.roster_id else None
        if not (
            level.responder_ids
            or (level.role and reach.with_role(level.role))
            or (roster and roster.people())
        ):
            raise NobodyToReach(f"level {number} reaches nobody")
    if protocol.catch_all == "coordinator" and not reach.with_role("coordinator"):
        raise NobodyToReach("the catch-all is the coordinator, and the organization has no coordinator")
    if protocol.catch_all == "regional_team" and not reach.regional_team:
        raise NobodyToReach("the catch-all is the regional crisis team, and the region has no team")


def check_deactivation(protocol: Protocol, reach: Reach, person: str) -> None:
    """Refuses to take off the staff the last person the catch-all can reach: the ladder would end with
    nobody. (A level naming them is skipped from then on, which the catch-all below it covers.)"""
    staff = {p: roles for p, roles in reach.staff.items() if p != person}
    team = tuple(p for p in reach.regional_team if p != person)
    _, people = catch_all_targets(protocol.catch_all, replace(reach, staff=staff, regional_team=team))
    if not people:
        raise NobodyToReach(
            f"{person} is the last person the protocol's catch-all reaches: name another first"
        )


def check_regional_team(responder_ids: Sequence[str], regional_responders: set[str]) -> None:
    """Refuses a team naming anyone who is not a regional responder on the staff of the region."""
    unknown = sorted(set(responder_ids) - regional_responders)
    if unknown:
        raise NobodyToReach(
            "not a regional responder of an organization of this region: " + ", ".join(unknown)
        )


def check_roster(roster: Roster, staff: Mapping[str, frozenset[str]]) -> None:
    unknown = sorted(p for p in roster.people() if p not in staff)
    if unknown:
        raise NobodyToReach(f"the roster names unknown responders: {', '.join(unknown)}")
    for override in roster.overrides:
        if override.end <= override.start:
            raise NobodyToReach("an override must end after it starts")


# --- cases -------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    org: str
    member_id: str
    severity: Severity
    opened_at: datetime
    protocol: Protocol  # a snapshot: a case keeps the ladder it started on
    dedup_key: str
    channel: Channel = "member"
    region: str | None = None
    state: State = "triggered"
    step: int = -1  # index into ladder(); -1 until the first escalation
    level: int = 0
    round: int = 0
    notified: list[str] = field(default_factory=list)
    regional: bool = False  # the regional crisis team has been reached
    deadline: datetime | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    outcome: Outcome | None = None
    referral: Referral | None = None
    partner_id: str | None = None
    # Free text: sealed (encrypted) by the service before the model sees it, opaque here.
    referral_other: str | None = None
    cancel_reason: CancelReason | None = None
    # The caring contact after a resolution: who makes it, by when, and when it was done.
    follow_up_by: str | None = None
    follow_up_due: datetime | None = None
    follow_up_done_at: datetime | None = None
    # The Stanley-Brown safety plan, sealed as a whole: {"sealed", "updated_at", "updated_by"}.
    safety_plan: dict[str, object] | None = None
    timeline: list[dict[str, object]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def guidance(self) -> str:
        return guidance_for(self.severity)

    @property
    def at_catch_all(self) -> bool:
        steps = ladder(self.protocol, self.severity)
        return 0 <= self.step < len(steps) and steps[self.step].catch_all

    @property
    def next_level(self) -> int | None:
        """The level a triggered case moves to at its deadline; None at the catch-all, which repeats."""
        if self.state != "triggered" or self.at_catch_all:
            return None
        steps = ladder(self.protocol, self.severity)
        return steps[min(self.step + 1, len(steps) - 1)].level

    def note(self, at: datetime, what: str, **details: object) -> None:
        self.timeline.append({"at": at, "what": what, **details})


def raise_case(
    *,
    org: str,
    member_id: str,
    severity: Severity,
    channel: Channel,
    dedup_key: str,
    protocol: Protocol,
    reach: Reach,
    now: datetime,
    reported_by: str | None = None,
    case_id: str | None = None,
    received_at: datetime | None = None,
) -> tuple[Case, list[Event]]:
    """Open a case and escalate it to the first step that reaches somebody.

    An alert accepted in a surge opens later than it was received: the case says when the person
    reached out (`received_at`), its timers run from now.
    """
    case = Case(
        id=case_id or new_id(),
        org=org,
        member_id=member_id,
        severity=severity,
        opened_at=received_at or now,
        protocol=protocol,
        dedup_key=dedup_key,
        channel=channel,
        region=reach.region,
    )
    case.note(now, "raised", severity=severity, channel=channel, by=reported_by or member_id)
    raised = CrisisRaised.create(
        source=SOURCE,
        org=org,
        subject=case.id,
        data=CrisisRaisedData(case_id=case.id, member_id=member_id, severity=severity, channel=channel),
    )
    return case, [raised, *_escalate_from(case, 0, reach, now)]


def merge_alert(
    case: Case,
    *,
    severity: Severity,
    channel: Channel,
    by: str,
    reach: Reach,
    now: datetime,
    alert_id: str | None = None,
) -> list[Event]:
    """A repeated alert for a person with an open case joins that case; a graver one raises its severity.

    The case then follows the graver severity's ladder at once: a triggered case below that
    ladder's start (imminent skips the first level) escalates now, not when its timer fires.
    An alert with an id (one accepted in a surge) joins once, however often it is delivered.
    """
    if not case.is_open:
        raise InvalidTransition("a closed case takes no more alerts")
    if alert_id and any(line.get("alert") == alert_id for line in case.timeline):
        return []
    details = {"alert": alert_id} if alert_id else {}
    case.note(now, "alert_merged", severity=severity, channel=channel, by=by, **details)
    previous = case.severity
    if SEVERITY_RANK[severity] <= SEVERITY_RANK[previous]:
        return []
    case.severity = severity
    case.note(now, "severity_raised", severity=severity, previous=previous, by=by)
    data = CrisisSeverityRaisedData(case_id=case.id, severity=severity, previous=previous, channel=channel)
    raised = CrisisSeverityRaised.create(source=SOURCE, org=case.org, subject=case.id, data=data)
    events: list[Event] = [raised]
    steps = ladder(case.protocol, severity)
    # Where the case stands on the new ladder: its own step if the ladder has it, else the next one.
    here = (case.round, case.level)
    index = next((i for i, s in enumerate(steps) if (s.round, s.level) >= here), len(steps) - 1)
    if case.state == "triggered" and (case.step < 0 or (steps[index].round, steps[index].level) != here):
        return events + _escalate_from(case, index, reach, now)
    case.step = index
    return events


def on_deadline(case: Case, reach: Reach, now: datetime) -> list[Event]:
    """A timer fired: escalate further, or re-trigger an acknowledgement that was never followed up.

    Idempotent by construction: a case that is closed, or whose deadline is still ahead (a
    replica already handled it), does nothing.
    """
    if not case.is_open or case.deadline is None or case.deadline > now:
        return []
    if case.state == "acknowledged":
        case.state, case.acknowledged_by = "triggered", None
        case.note(now, "acknowledgement_timed_out", level=case.level)
        return _escalate_from(case, max(case.step, 0), reach, now)
    steps = ladder(case.protocol, case.severity)
    # The catch-all is the last step and repeats until somebody acknowledges.
    return _escalate_from(case, min(case.step + 1, len(steps) - 1), reach, now)


def acknowledge(case: Case, responder_id: str, now: datetime) -> list[Event]:
    """Stops escalation; the acknowledgement times out (re-triggering) unless the case is resolved."""
    if case.state == "acknowledged" and case.acknowledged_by == responder_id:
        return []  # a double click is not a second acknowledgement
    if case.state != "triggered":
        raise InvalidTransition(f"a {case.state} case cannot be acknowledged")
    case.state, case.acknowledged_by = "acknowledged", responder_id
    case.deadline = now + timedelta(minutes=case.protocol.ack_timeout_minutes)
    case.note(now, "acknowledged", by=responder_id, level=case.level)
    data = CrisisAcknowledgedData(case_id=case.id, responder_id=responder_id, level=max(case.level, 1))
    return [CrisisAcknowledged.create(source=SOURCE, org=case.org, subject=case.id, data=data)]


def resolve(
    case: Case,
    *,
    responder_id: str,
    outcome: Outcome,
    referral: Referral,
    partner_id: str | None,
    now: datetime,
    referral_other: str | None = None,
    responder_org: str | None = None,
) -> list[Event]:
    """Closes the case with its outcome and referral, and schedules a caring contact within 24 hours.

    `responder_org`: the resolver's organization when they are not on the case organization's staff
    (a regional team member from elsewhere), so that the reminder reaches them as that one's."""
    if not case.is_open:
        raise InvalidTransition(f"a {case.state} case cannot be resolved")
    if (referral == "warm_handoff") != bool(partner_id):
        raise BadResolution("a warm handoff, and only a warm handoff, names the partner it was handed to")
    if (referral == "other") != bool(referral_other):
        raise BadResolution("a referral to 'other' says what it was, and only that one")
    case.state, case.deadline, case.resolved_by = "resolved", None, responder_id
    case.outcome, case.referral, case.partner_id = outcome, referral, partner_id
    case.referral_other = referral_other
    due_by = now + CARING_CONTACT_WITHIN
    case.follow_up_by, case.follow_up_due = responder_id, due_by
    case.note(now, "resolved", by=responder_id, outcome=outcome, referral=referral)
    case.note(now, "follow_up_scheduled", responder=responder_id, due_by=due_by)
    resolved = CrisisResolvedData(
        case_id=case.id, responder_id=responder_id, outcome=outcome, referral=referral, partner_id=partner_id
    )
    follow_up = CrisisFollowUpScheduledData(
        case_id=case.id, responder_id=responder_id, member_id=case.member_id, due_by=due_by,
        responder_org=responder_org, region=case.region if responder_org else None,
    )  # fmt: skip
    return [
        CrisisResolved.create(source=SOURCE, org=case.org, subject=case.id, data=resolved),
        CrisisFollowUpScheduled.create(source=SOURCE, org=case.org, subject=case.id, data=follow_up),
    ]


def cancel(case: Case, *, by: str, reason: CancelReason, now: datetime) -> list[Event]:
    if not case.is_open:
        raise InvalidTransition(f"a {case.state} case cannot be cancelled")
    case.state, case.deadline, case.cancel_reason = "cancelled", None, reason
    case.note(now, "cancelled", by=by, reason=reason)
    data = CrisisCancelledData(case_id=case.id, cancelled_by=by, reason=reason)
    return [CrisisCancelled.create(source=SOURCE, org=case.org, subject=case.id, data=data)]


def complete_follow_up(case: Case, *, by: str, for_anyone: bool, now: datetime) -> list[Event]:
    """The caring contact was made: it leaves the list of the responder who owes it. Only they mark it
    done, or a coordinator (`for_anyone`) when someone else made it."""
    if case.follow_up_due is None:
        raise InvalidTransition("the case has no caring contact to make (it was not resolved)")
    if case.follow_up_by != by and not for_anyone:
        raise NotYours("the caring contact is another responder's")
    if case.follow_up_done_at is not None:
        return []  # marked done twice: once is enough
    case.follow_up_done_at = now
    on_time = now <= case.follow_up_due
    case.note(now, "follow_up_done", by=by, on_time=on_time)
    data = CrisisFollowUpCompletedData(
        case_id=case.id, responder_id=by, due_by=case.follow_up_due, completed_at=now, on_time=on_time
    )
    return [CrisisFollowUpCompleted.create(source=SOURCE, org=case.org, subject=case.id, data=data)]


def update_safety_plan(case: Case, *, sealed: str, by: str, now: datetime) -> list[Event]:
    """Replaces the case's safety plan (sealed by the service); a line in the timeline, no event: the
    plan is about the person and never leaves the case."""
    if case.state == "cancelled":
        raise InvalidTransition("a cancelled case (raised by mistake, a duplicate) has no safety plan")
    case.safety_plan = {"sealed": sealed, "updated_at": now, "updated_by": by}
    case.note(now, "safety_plan_updated", by=by)
    return []


def _escalate_from(case: Case, start: int, reach: Reach, now: datetime) -> list[Event]:
    """Notify the first step from `start` on that reaches somebody; empty steps fall through."""
    steps = ladder(case.protocol, case.severity)
    for index in range(start, len(steps)):
        step = steps[index]
        kind: CatchAll | None = None
        if step.catch_all:
            kind, people = catch_all_targets(case.protocol.catch_all, reach)
            timeout = case.protocol.catch_all_timeout_minutes
        else:
            level = case.protocol.levels[step.level - 1]
            people, timeout = level_targets(level, reach, now), level.timeout_minutes
        if not people:
            case.note(now, "level_skipped", level=step.level, round=step.round)
            continue
        case.step, case.level, case.round, case.notified = index, step.level, step.round, people
        case.regional = case.regional or kind == "regional_team"
        case.deadline = now + timedelta(minutes=timeout)
        case.note(now, "escalated", level=step.level, round=step.round, responders=people, catch_all=kind)
        elsewhere = (
            {p: reach.team_orgs[p] for p in people if p in reach.team_orgs} if kind == "regional_team" else {}
        )
        data = CrisisEscalatedData(
            case_id=case.id,
            level=step.level,
            severity=case.severity,
            responder_ids=people,
            round=step.round,
            catch_all=kind,
            region=case.region,
            alert_at=case.opened_at,
            responder_orgs=elsewhere or None,
        )
        return [CrisisEscalated.create(source=SOURCE, org=case.org, subject=case.id, data=data)]
    case.step = len(steps) - 1
    case.deadline = now + RETRY_NOBODY
    case.note(now, "no_responder_reachable")
    return []
