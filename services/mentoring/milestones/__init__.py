"""Milestones: a member's recovery date, and `MilestoneReached` at their local midnight on each
milestone (24 hours, 30, 60 and 90 days, 6 and 9 months, 1 year, 18 months, then yearly).

The member alone sets and reads their recovery date, time zone and audience; a new date (a reset)
is private: no event, the old date deleted, no announcement of milestones already passed, and
`share_with` back to "nobody" when a date was set before (otherwise the mentor's view would show
"24h, tomorrow" and tell them of the relapse); the PUT answer shows it, with a note, and the member
chooses again by sending the same date with an audience. Whatever a writer that dies midway leaves
of an old date (its value, its announcements) is deleted at the next read of the member's document.

Who hears of a milestone (`share_with`), decided when it is announced:
- `nobody`: the event still says the member reached it (notifications congratulates them alone);
- `mentor`: the mentor of the member's active match;
- `group`: the member's mentoring circle, meaning their mentor and the mentor's other active mentees.
Without an active match, nobody but the member.

Publishes `MilestoneReached` (from `milestone_announcements`, through the outbox). Timers:
`milestone_timers` on the shared scheduler (`service.run_timers`).
"""
