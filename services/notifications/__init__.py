"""Notifications: every message to a person or a team.

Owns: notifications (database `rn_notifications`), one per recipient per cause event.
Publishes: NotificationDelivered.
Consumes: CrisisEscalated (critical, to each responder; a regional team's members read theirs
whatever organization the case is in), CrisisFollowUpScheduled (the caring contact, to the responder
who resolved the case), MatchProposed (to the mentor and the member), MeetingChanged,
MeetingCancelled and OccurrenceCancelled (to the members who saved the meeting).
"""
