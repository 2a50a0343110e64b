"""Notifications: every message to a person or a team.

Owns: notifications (database `rn_notifications`), one per recipient per cause event.
Publishes: NotificationDelivered and NotificationFailed (an attempt's outcome, per channel).
Consumes: CrisisEscalated (critical, to each responder; a regional team's members read theirs
whatever organization the case is in), CrisisFollowUpScheduled (the caring contact, to the responder
who resolved the case), CrisisResponderDeactivated (the crisis messages still waiting for that
person in that organization are cancelled, each saying why), MeetingChanged, MeetingCancelled and
OccurrenceCancelled (to the members who saved the meeting), and from mentoring: MatchProposed and
MatchAccepted (to the mentor and the member), MatchDeclined (to the member), MatchExpired and
MatchEnded (to both), CheckInOverdue (the member, then the mentor), MenteeDrifting (the mentor
only) and MilestoneReached (the member, and the people they chose, without a name).
"""
