"""Meetings: the network's meeting directory, Meeting Guide compatible, with calendars and attendance.

Owns: meetings, their slugs and who saved them, imports, check-ins and attendance (database
`rn_meetings`); a directory read model in each process's memory, kept current by its own events.
Publishes: MeetingScheduled, MeetingChanged, MeetingCancelled, OccurrenceCancelled,
AttendanceRecorded, MemberDisengaged.
Consumes: its own meeting events (the directory read model).
"""
