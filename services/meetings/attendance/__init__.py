"""Attendance: check-in codes, who attended which occurrence, streaks, proof of attendance, disengagement."""
