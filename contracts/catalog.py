"""Every event in contracts, in one list: schema export and compatibility checks walk it."""

from contracts.crisis import (
    CrisisAcknowledged,
    CrisisAlertReceived,
    CrisisCancelled,
    CrisisEscalated,
    CrisisFollowUpCompleted,
    CrisisFollowUpScheduled,
    CrisisRaised,
    CrisisResolved,
    CrisisResponderDeactivated,
    CrisisSeverityRaised,
    CrisisUrgentAlertReceived,
)
from contracts.envelope import Event
from contracts.meetings import MEETING_EVENTS
from contracts.mentoring import MENTORING_EVENTS
from contracts.notifications import NotificationDelivered, NotificationFailed

EVENTS: tuple[type[Event], ...] = (
    *MEETING_EVENTS,
    *MENTORING_EVENTS,
    CrisisAlertReceived,
    CrisisUrgentAlertReceived,
    CrisisRaised,
    CrisisEscalated,
    CrisisSeverityRaised,
    CrisisAcknowledged,
    CrisisResolved,
    CrisisCancelled,
    CrisisFollowUpScheduled,
    CrisisFollowUpCompleted,
    CrisisResponderDeactivated,
    NotificationDelivered,
    NotificationFailed,
)
