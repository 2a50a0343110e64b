"""Mentoring: mentors and the members they mentor, from the request to the check-ins.

Owns: mentors' profiles and slots, members' requests and matches, proposal timers, check-ins and
their timers, drift notices, recovery dates and milestone timers, BARC-10 responses (database
`rn_mentoring`).
Publishes: MatchProposed, MatchAccepted, MatchDeclined, MatchExpired, MatchWithdrawn, MatchEnded,
CheckInOverdue, MenteeDrifting, MilestoneReached, CrisisAlertRequested.
Consumes: its own MatchAccepted, MatchDeclined, MatchExpired, MatchWithdrawn and MatchEnded (to settle
the member's side of each step durably, and to start and stop a pair's check-ins); MemberDisengaged
(meetings), to tell the mentor their mentee is drifting.
"""
