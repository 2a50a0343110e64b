"""Every event in contracts, in one list: schema export and compatibility checks walk it."""

from contracts.crisis import CrisisEscalated, CrisisRaised
from contracts.envelope import Event
from contracts.meetings import MeetingScheduled
from contracts.mentoring import MatchProposed
from contracts.notifications import NotificationDelivered

EVENTS: tuple[type[Event], ...] = (
    MeetingScheduled,
    MatchProposed,
    CrisisRaised,
    CrisisEscalated,
    NotificationDelivered,
)
