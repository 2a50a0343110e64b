"""Crisis: protocols, on-call rosters and cases for people who reach out, escalated until a human answers.

Owns: crisis staff (active or deactivated), on-call rosters, protocols, clinical partners, regional
teams, cases with their encrypted notes, safety plans and read audit, caring contacts, webhook
endpoints and deliveries (database `rn_crisis`).
Publishes: CrisisRaised, CrisisEscalated, CrisisSeverityRaised, CrisisAcknowledged, CrisisResolved,
CrisisCancelled, CrisisFollowUpScheduled, CrisisFollowUpCompleted, CrisisResponderDeactivated; in a
surge, the alerts it accepted (CrisisAlertReceived, CrisisUrgentAlertReceived).
Consumes: CrisisAlertRequested (from mentoring), its own accepted alerts (to open their cases, urgent
ones first), its own CrisisEscalated (for webhooks).
Serves: the responder console at /crisis/console (sign-in at /crisis/console/sign-in: the demo users
locally, OpenID Connect in production), with live events at /crisis/console/events.
"""
