"""Meetings as iCalendar: one meeting, an organization's meetings, or any directory search."""
