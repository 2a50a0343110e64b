"""Meetings: the network's meeting directory.

Owns: meetings (database `rn_meetings`), described as in the Meeting Guide feed format.
Publishes: MeetingScheduled.
Consumes: nothing yet.
"""
