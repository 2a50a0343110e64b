"""Mentoring: mentors, requests for a mentor, and matches.

Owns: mentors, mentoring requests and matches (database `rn_mentoring`).
Publishes: MatchProposed.
Consumes: nothing yet (check-ins, milestones and risk flags come later).
"""
