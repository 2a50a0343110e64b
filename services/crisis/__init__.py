"""Crisis: protocols, on-call rosters and cases for people who reach out, escalated until a human answers.

Owns: crisis staff, on-call rosters, protocols, regional teams, cases with their encrypted notes and
read audit, webhook endpoints and deliveries (database `rn_crisis`).
Publishes: CrisisRaised, CrisisEscalated, CrisisSeverityRaised, CrisisAcknowledged, CrisisResolved,
CrisisCancelled, CrisisFollowUpScheduled; in a surge, the alerts it accepted (CrisisAlertReceived,
CrisisUrgentAlertReceived).
Consumes: CrisisAlertRequested (from mentoring), its own accepted alerts (to open their cases, urgent
ones first), its own CrisisEscalated (for webhooks).
Serves: the responder console at /crisis/console, with live events at /crisis/console/events.
"""
